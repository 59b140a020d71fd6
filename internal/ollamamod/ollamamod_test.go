package ollamamod

import (
	"os"
	"strings"
	"testing"
)

// TestFiles finds the files the project's tests read: they are in every build's module cache, so a miss is a
// failure, not a skip.
func TestFiles(t *testing.T) {
	for _, name := range []string{"llama3.2/encoder.json", "llama3.2/vocab.bpe", "war-and-peace.txt"} {
		p, err := Testdata(name)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v (%v)", p, fi, err)
		}
	}
	if _, err := Testdata("no/such/file"); err == nil {
		t.Error("a missing file was found")
	}
	tm, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	for name, tmpl := range tm {
		if name == "" || !strings.Contains(tmpl, "{") {
			t.Errorf("template %q: %.60q", name, tmpl)
		}
	}
}
