package world

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"
)

// EmbeddedHeldOutChars is how much held-out prose the binary carries: enough for every held-out set the lab and
// the pretraining recipes ask for (the default recipe holds out 20,000 characters).
const EmbeddedHeldOutChars = 24_000

//go:generate go run heldout_gen.go

// heldOutData are the first held-out passages of war-and-peace.txt (public domain), one JSON string a line,
// written by heldout_gen.go.
//
//go:embed heldout.jsonl
var heldOutData []byte

var embedded = sync.OnceValues(func() ([]string, error) {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(heldOutData))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var p string
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("world: embedded held-out prose: %w", err)
		}
		out = append(out, p)
	}
	return out, sc.Err()
})

// HeldOutProse returns leading held-out passages of the book until their length reaches chars, from the copy
// embedded in the binary: the same passages Corpus sets aside as HeldOut, with no file to find.
func HeldOutProse(chars int) ([]string, error) {
	if chars < 0 || chars > EmbeddedHeldOutChars {
		return nil, fmt.Errorf("world: held-out prose: %d characters asked, 0..%d embedded", chars, EmbeddedHeldOutChars)
	}
	all, err := embedded()
	if err != nil {
		return nil, err
	}
	return takeChars(all, chars)
}

// BookHeldOut reads the book at path and returns its leading held-out passages (from its last tenth) until
// their length reaches chars.
func BookHeldOut(path string, chars int) ([]string, error) {
	passages, err := ProsePassages(path)
	if err != nil {
		return nil, err
	}
	cut := len(passages) - int(heldOutShare*float64(len(passages)))
	return takeChars(passages[cut:], chars)
}
