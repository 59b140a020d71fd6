//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package prompts

import "io"

// ownLock is false: badger takes its own lock on this platform.
const ownLock = false

// dirLocked cannot probe the lock on this platform; isLockError falls back
// to badger's error message.
func dirLocked(string) bool { return false }

// lockDir leaves locking to badger on this platform.
func lockDir(string, bool) (io.Closer, error) { return nopCloser{}, nil }

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
