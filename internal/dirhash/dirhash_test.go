package dirhash_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/internal/dirhash"
)

// TestDigest: the digest is stable, and changes when a file's content changes, a file is renamed, or an
// empty directory appears.
func TestDigest(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d0 := dirhash.Digest(t, dir)
	if d := dirhash.Digest(t, dir); d != d0 {
		t.Fatalf("digest changed without a change: %s, %s", d0, d)
	}
	seen := map[string]string{d0: "start"}
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"rewrite", func() error { return os.WriteFile(filepath.Join(dir, "a"), []byte("y"), 0o644) }},
		{"rename", func() error { return os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b")) }},
		{"empty directory", func() error { return os.Mkdir(filepath.Join(dir, "c"), 0o755) }},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		d := dirhash.Digest(t, dir)
		if prev, ok := seen[d]; ok {
			t.Errorf("after %s the digest equals the one after %s", step.name, prev)
		}
		seen[d] = step.name
	}
}
