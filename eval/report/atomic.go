package report

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeAtomic writes data to dir/name through a temporary file in dir that
// is synced and renamed over the target, so readers see the old file or the
// whole new one.
func writeAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	if err = os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("report: write %s: %w", name, err)
	}
	return nil
}
