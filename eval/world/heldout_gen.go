//go:build ignore

// heldout_gen writes heldout.jsonl: the first held-out passages of war-and-peace.txt (the book's last tenth,
// which pretraining never sees), one JSON string a line, so that an installed binary measures perplexity and
// KL without the Go module cache. Run from eval/world: go run heldout_gen.go
package main

import (
	"context"
	"encoding/json"
	"log"
	"os"

	"github.com/fastslow/fastslow/eval/world"
)

func main() {
	path, err := world.LocateProse(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	passages, err := world.BookHeldOut(path, world.EmbeddedHeldOutChars)
	if err != nil {
		log.Fatal(err)
	}
	f, err := os.Create("heldout.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	enc := json.NewEncoder(f)
	for _, p := range passages {
		if err := enc.Encode(p); err != nil {
			log.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
