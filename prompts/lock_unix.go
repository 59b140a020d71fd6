//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package prompts

import (
	"errors"
	"os"
	"syscall"
)

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
