//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package prompts

// dirLocked cannot probe the lock on this platform; isLockError falls back
// to badger's error message.
func dirLocked(string) bool { return false }
