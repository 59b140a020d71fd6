// Package atomicfile writes files so that readers see either the old content
// or the complete new content, never a partial write.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WriteFile writes the file at path with the content produced by write.
//
// The content goes to a temporary file in the same directory, which is
// flushed, fsynced and then renamed over path; finally the directory itself is
// fsynced so the rename survives a crash. If write or any later step fails,
// the temporary file is removed and path is left untouched. perm is applied to
// the new file exactly (it is not masked by the umask).
//
// The io.Writer passed to write is buffered; write must not retain it.
func WriteFile(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	if write == nil {
		return fmt.Errorf("atomicfile: write %s: nil write function", path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("atomicfile: create temporary file for %s: %w", path, err)
	}
	tmpName := tmp.Name()
	done := false
	defer func() {
		// Runs on errors and on panics inside write: never leave the
		// temporary file behind.
		if !done {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()

	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(bw); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("atomicfile: chmod %s: %w", tmpName, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("atomicfile: close %s: %w", tmpName, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("atomicfile: rename %s to %s: %w", tmpName, path, err)
	}
	done = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("atomicfile: sync directory of %s: %w", path, err)
	}
	return nil
}

// removeStale removes the temporary files of earlier writes of dir/base that
// were interrupted (a killed process cannot remove its own): those named
// after a process that no longer runs, and unnamed ones older than an hour.
func removeStale(dir, base string) {
	tmps, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(base)+".tmp-*"))
	prefix := "." + base + ".tmp-"
	for _, t := range tmps {
		rest := strings.TrimPrefix(filepath.Base(t), prefix)
		pidText, _, found := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		switch {
		case found && err == nil && pid > 0:
			if pid != os.Getpid() && !processAlive(pid) {
				os.Remove(t)
			}
		default:
			if fi, err := os.Stat(t); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.Remove(t)
			}
		}
	}
}

// globEscape quotes the pattern characters of a file name.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// processAlive reports whether a process with that id runs (or might: on
// platforms where this cannot be told, it says yes).
func processAlive(pid int) bool {
	if runtime.GOOS == "windows" {
		return true
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return err == nil || errors.Is(err, syscall.EPERM)
}

// syncDir makes a rename in dir durable. Windows cannot open directories for
// syncing, and its renames need no such step, so it is skipped there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems do not support fsync on directories; the rename
	// itself has already happened, so that is not a failure.
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}
