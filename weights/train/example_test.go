package train_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Train a LoRA adapter on a small model to continue counting sequences, with a checkpoint so that an
// interrupted run (Ctrl-C cancelling ctx) picks up where it stopped when started again.
func ExampleRun() {
	m, err := llama.New(llama.Config{Vocab: 32, Dim: 16, Hidden: 32, Layers: 2, Heads: 4, KVHeads: 2,
		ContextLength: 64, RopeBase: 10000, NormEps: 1e-5})
	if err != nil {
		log.Fatal(err)
	}
	m.InitRandom(1, 0.4)
	a, err := llama.NewAdapter(m, llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_v", "ffn_down"}}, 1)
	if err != nil {
		log.Fatal(err)
	}

	// Sequences 3i, 3i+1, ... (mod 32): the first three tokens are the prompt, the rest carry the loss.
	var data []llama.Sequence
	for i := range 12 {
		toks := make([]int32, 10)
		for j := range toks {
			toks[j] = int32((3*i + j) % 32)
		}
		data = append(data, llama.Sequence{Tokens: toks, Start: 3})
	}

	dir, err := os.MkdirTemp("", "train-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opt := train.Options{
		Steps: 40, BatchSize: 4, LR: 5e-2, Warmup: 3, ClipNorm: 1, Seed: 1,
		CheckpointPath: filepath.Join(dir, "adapter.ckpt"), CheckpointEvery: 10,
	}
	res, err := train.Run(context.Background(), train.LoRAObjective(m, a), data, opt, func(p train.Progress) {
		// Report progress here, e.g. p.Step, p.Loss, p.LR, p.TokensPerSec.
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("trained %d steps; loss fell by more than half: %v\n", res.Steps, res.FinalLoss() < res.Losses[0]/2)
	// Output: trained 40 steps; loss fell by more than half: true
}

// words is a toy tokenizer: one token per space-separated word of a fixed vocabulary, BOS 0, EOS 1.
type words map[string]int32

func (w words) Encode(text string, addBOS bool) []int32 {
	var out []int32
	if addBOS {
		out = append(out, 0)
	}
	for _, f := range strings.Fields(text) {
		out = append(out, w[f])
	}
	return out
}

func (w words) EOS() int32 { return 1 }

// Build a supervised fine-tuning sequence: the loss covers only the answer and the end token.
func ExampleSFTSequence() {
	tok := words{"what": 2, "is": 3, "two": 4, "plus": 5, "four": 6}
	seq, err := train.SFTSequence(tok, "what is two plus two", "four", 16)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(seq.Tokens, "loss from index", seq.Start)

	_, err = train.SFTSequence(tok, "what is two plus two", "four", 6)
	fmt.Println(err)
	// Output:
	// [0 2 3 4 5 4 6 1] loss from index 6
	// train: SFT sequence: 6 prompt + 1 completion tokens + EOS = 8 exceed the context length 6 (prompt "what is two plus two")
}
