package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.bin")
	tests := []struct {
		name    string
		content string
		perm    os.FileMode
	}{
		{"create", "hello", 0o644},
		{"replace", "a longer second version", 0o600},
		{"empty", "", 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteFile(path, tt.perm, func(w io.Writer) error {
				_, err := io.WriteString(w, tt.content)
				return err
			})
			if err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.content {
				t.Errorf("content = %q, want %q", got, tt.content)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("perm = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			assertNoTemp(t, dir, "out.bin")
		})
	}
}

func TestWriteFileErrorKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteFile(path, 0o644, func(w io.Writer) error {
		// Write more than the buffer holds so part of it reaches the
		// temporary file before the failure.
		if _, err := w.Write([]byte(strings.Repeat("x", 3<<20))); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want wrapping %v", err, boom)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "old" {
		t.Errorf("content after failed write = %q, want %q", got, "old")
	}
	assertNoTemp(t, dir, "keep.txt")
}

func TestWriteFilePanicRemovesTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.txt")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not propagate")
			}
		}()
		WriteFile(path, 0o644, func(w io.Writer) error {
			io.WriteString(w, "partial")
			panic("writer panicked")
		})
	}()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("target exists after panic: %v", err)
	}
	assertNoTemp(t, dir, "")
}

func TestWriteFileBadDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "f.txt")
	err := WriteFile(path, 0o644, func(w io.Writer) error { return nil })
	if err == nil {
		t.Fatal("WriteFile into a missing directory succeeded")
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "x"), 0o644, nil); err == nil {
		t.Fatal("WriteFile with nil function succeeded")
	}
}

// assertNoTemp fails if dir holds anything but keep.
func assertNoTemp(t *testing.T, dir, keep string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != keep {
			t.Errorf("leftover file %q", e.Name())
		}
	}
}

func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "atomicfile")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.txt")

	err = WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, "version = 2\n")
		return err
	})
	if err != nil {
		panic(err)
	}
	b, _ := os.ReadFile(path)
	os.Stdout.Write(b)
	// Output: version = 2
}
