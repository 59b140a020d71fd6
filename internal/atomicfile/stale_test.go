//go:build unix

package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestStaleTempsRemoved: the next write of a path removes the temporary files that writers killed with
// SIGKILL left (named after a process that is gone, or unnamed and over an hour old), and keeps those of a
// process that still runs.
func TestStaleTempsRemoved(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "OUT.ckpt")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("no process to outlive: %v", err)
	}
	gone := filepath.Join(dir, ".OUT.ckpt.tmp-"+strconv.Itoa(dead.Process.Pid)+"-111")
	live := filepath.Join(dir, ".OUT.ckpt.tmp-"+strconv.Itoa(os.Getppid())+"-222")
	old := filepath.Join(dir, ".OUT.ckpt.tmp-333")
	fresh := filepath.Join(dir, ".OUT.ckpt.tmp-444")
	other := filepath.Join(dir, ".other.tmp-"+strconv.Itoa(dead.Process.Pid)+"-555")
	for _, p := range []string{gone, live, old, fresh, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{gone: false, old: false, live: true, fresh: true, other: true} {
		_, err := os.Stat(p)
		if exists := err == nil; exists != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), exists, want)
		}
	}
}
