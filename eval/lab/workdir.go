package lab

import "os"

// workDir returns dir or, when dir is empty, a new temporary directory named after pattern (os.MkdirTemp)
// that done removes.
func workDir(dir, pattern string) (_ string, done func(), _ error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	tmp, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", nil, err
	}
	return tmp, func() { os.RemoveAll(tmp) }, nil
}
