package prompts

import (
	"errors"
	"os"
	"syscall"
)

// dataAfter returns the offset of the first byte at or after off that is
// not in a hole of f (lseek SEEK_DATA), or -1 when only holes follow.
func dataAfter(f *os.File, off int64) (int64, error) {
	const seekData = 3
	n, err := f.Seek(off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return -1, nil
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP) {
		return off, nil // no SEEK_DATA here: read everything
	}
	return n, err
}
