//go:build unix

package gguf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenRefusesNonRegularFiles: a FIFO (which would block the open forever), a directory and a device
// are refused at once.
func TestOpenRefusesNonRegularFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "model.gguf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{fifo, t.TempDir(), os.DevNull} {
		if _, err := Open(p); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open(%s) = %v, want ErrFormat: not a regular file", p, err)
		}
	}
}
