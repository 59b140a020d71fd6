//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package prompts

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// ownLock means lockDir takes the directory lock itself (and badger is told
// not to take it again).
const ownLock = true

// dirLocked reports whether another open file description holds badger's
// flock on dir. It takes and immediately drops a shared lock.
func dirLocked(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// lockDir takes flock on dir, shared or exclusive, without waiting; the
// same lock badger takes, so a process of an older build and this one
// exclude each other. The lock lasts until the returned file is closed.
func lockDir(dir string, shared bool) (io.Closer, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if shared {
		how = syscall.LOCK_SH
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}
