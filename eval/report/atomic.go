package report

import (
	"bytes"
	"io"
	"path/filepath"

	"github.com/fastslow/fastslow/internal/atomicfile"
)

// writeAtomic writes data to dir/name so that readers see the old file or the whole new one.
func writeAtomic(dir, name string, data []byte) error {
	return atomicfile.WriteFile(filepath.Join(dir, name), 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}
