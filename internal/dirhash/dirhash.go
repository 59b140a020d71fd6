// Package dirhash hashes a directory tree for tests that must prove a failed or read-only operation wrote
// nothing: the digest changes when any file or directory below the root is added, removed, renamed or
// rewritten.
package dirhash

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Digest returns the SHA-256, in hex, of every path under dir (relative to it, in lexical order) and the
// content of every regular file, failing t when the tree cannot be read.
func Digest(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fmt.Fprintln(h, rel)
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
