package pretrain

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// tinyRecipe is a recipe that trains in about a second: a small world, no prose, a tiny model.
func tinyRecipe() Recipe {
	r := DefaultRecipe()
	r.Name = "tiny"
	r.World = WorldRecipe{Seed: 7, Known: 10, Newcomers: 5, TrainFrac: 0.6, ValFrac: 0.2}
	r.Corpus = CorpusRecipe{BioVariants: 2, BioRepeats: 2, ChunkTokens: 64}
	r.Mix.ContextPeople = 6
	r.VocabSize = 320
	r.Model = ModelRecipe{Dim: 32, Hidden: 64, Layers: 1, Heads: 2, KVHeads: 2, ContextLength: 256,
		RopeBase: 10000, NormEps: 1e-5, TiedOutput: true, InitStd: 0.02, InitSeed: 3}
	r.Train.Steps, r.Train.BatchSize, r.Train.Warmup = 24, 8, 4
	return r
}

func TestRecipeValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Recipe)
		want   string // substring of the error, "" for none
	}{
		{"default", func(*Recipe) {}, ""},
		{"tiny", func(r *Recipe) { *r = tinyRecipe() }, ""},
		{"no name", func(r *Recipe) { r.Name = "" }, "no name"},
		{"small vocab", func(r *Recipe) { r.VocabSize = 100 }, "vocab size"},
		{"bio variants", func(r *Recipe) { r.Corpus.BioVariants = 6 }, "bio variants"},
		{"bio repeats", func(r *Recipe) { r.Corpus.BioRepeats = 0 }, "bio repeats"},
		{"negative prose", func(r *Recipe) { r.Corpus.ProseChars = -1 }, "negative prose"},
		{"chunk too long", func(r *Recipe) { r.Corpus.ChunkTokens = r.Model.ContextLength + 1 }, "chunk"},
		{"negative mix", func(r *Recipe) { r.Mix.ContextPeople = -1 }, "negative mix"},
		{"too many per person", func(r *Recipe) { r.Mix.ContextPerPerson = 8 }, "at most 7"},
		{"full bio share", func(r *Recipe) { r.Mix.ContextFullBio = 1.5 }, "share"},
		{"fact task", func(r *Recipe) { r.Mix.FactTasks = []string{world.TaskArithmetic} }, "fact task"},
		{"tensor type", func(r *Recipe) { r.Type = "Q4_0" }, "tensor type"},
		{"heads", func(r *Recipe) { r.Model.Heads = 3 }, "model"},
		{"init", func(r *Recipe) { r.Model.InitStd = 0 }, "spread"},
		{"steps", func(r *Recipe) { r.Train.Steps = 0 }, "training steps"},
		{"world", func(r *Recipe) { r.World.Known = 2 }, "at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := DefaultRecipe()
			tt.change(&r)
			err := r.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestFactSentence(t *testing.T) {
	w, err := world.New(world.Options{Seed: 3, Known: 30, Newcomers: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.Known {
		for v := range world.NumBioTemplates {
			bio := world.Biography(p, v)
			for _, a := range world.Attributes() {
				s, err := FactSentence(p, a, v)
				if err != nil {
					t.Fatal(err)
				}
				val, _ := p.Value(a)
				if !strings.Contains(bio, s) || !strings.Contains(s, val) || strings.Count(s, ". ") > 0 {
					t.Fatalf("FactSentence(%s, %s, %d) = %q: not one sentence of %q stating %q", p.Name(), a, v, s, bio, val)
				}
			}
		}
	}
	if _, err := FactSentence(w.Known[0], "shoe size", 0); err == nil {
		t.Fatal("FactSentence accepted an unknown attribute")
	}
}

func TestCorrect(t *testing.T) {
	tests := []struct {
		output, answer string
		want           bool
	}{
		{" Veltmor", "Veltmor", true},
		{" Veltmor\nQ: next", "Veltmor", true},
		{" Veltmor on 3 May 1990.", "Veltmor", true},
		{" Veltmor.", "Veltmor", true},
		{" Veltmore", "Veltmor", false},
		{" 14 March 1987", "14 March 1987", true},
		{" 14 March 19870", "14 March 1987", false},
		{" 14 March", "14 March 1987", false},
		{"\nVeltmor", "Veltmor", false},
		{"  Veltmor", "Veltmor", false},
		{" teal", "", false},
	}
	for _, tt := range tests {
		if got := Correct(tt.output, tt.answer); got != tt.want {
			t.Errorf("Correct(%q, %q) = %v, want %v", tt.output, tt.answer, got, tt.want)
		}
	}
}

// TestCorpusMix checks what enters pretraining: every biography variant, the fact questions of the
// train group only, and in-context documents about nobody of the world.
func TestCorpusMix(t *testing.T) {
	r := tinyRecipe()
	c, err := buildCorpus(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := r.World.Known * r.Corpus.BioVariants * r.Corpus.BioRepeats; c.bios != want {
		t.Errorf("%d biographies, want %d", c.bios, want)
	}
	if c.prose != 0 {
		t.Errorf("%d prose passages, want none", c.prose)
	}
	if want := r.Mix.ContextPeople * r.Mix.ContextPerPerson; c.contexts != want {
		t.Errorf("%d in-context documents, want %d", c.contexts, want)
	}
	texts := map[string]bool{}
	for _, d := range c.docs {
		texts[d.Text] = true
	}
	nFacts := 0
	for _, name := range r.Mix.FactTasks {
		task, err := c.w.Task(name)
		if err != nil {
			t.Fatal(err)
		}
		nFacts += len(task.Train)
		for _, e := range task.Train {
			if !texts[e.Prompt] {
				t.Errorf("train question %q missing from the mix", e.Prompt)
			}
		}
		// Fill-in-the-blank prompts of held-out people are part of their biographies, but must
		// not be documents of their own; their questions must not appear at all.
		for _, e := range append(task.Validation, task.Test...) {
			for _, d := range c.docs {
				if d.Text == e.Prompt || strings.HasPrefix(e.Prompt, "Q: ") && strings.Contains(d.Text, e.Prompt) {
					t.Errorf("held-out question %q is in the mix", e.Prompt)
				}
			}
		}
	}
	if c.facts != nFacts*r.Mix.FactRepeats {
		t.Errorf("%d fact documents, want %d", c.facts, nFacts*r.Mix.FactRepeats)
	}
	people := append(append([]world.Person(nil), c.w.Known...), c.w.Newcomers...)
	for _, d := range c.docs {
		if !d.Context {
			continue
		}
		ctxText, prompt, ok := strings.Cut(d.Text, "\n")
		if !ok || prompt == "" || !strings.HasPrefix(d.Completion, " ") {
			t.Fatalf("in-context document %q + %q: want context, newline, question and a spaced answer", d.Text, d.Completion)
		}
		if !containsWord(ctxText, strings.TrimPrefix(d.Completion, " ")) {
			t.Errorf("in-context document %q does not state its answer %q", d.Text, d.Completion)
		}
		for _, p := range people {
			if containsWord(d.Text, p.Name()) {
				t.Errorf("in-context document names %s of the world: %q", p.Name(), d.Text)
			}
		}
	}
}

func TestSequences(t *testing.T) {
	c := &corpus{docs: []doc{
		{Text: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 12)},
		{Text: "Q: Where was Alia Brenn born?\nA:", Completion: " Veltmor"},
		{Text: "Alia Brenn was born in Veltmor.\nQ: Where was Alia Brenn born?\nA:", Completion: " Veltmor", Context: true},
	}}
	tok, err := tokenizer.Train(context.Background(), c.texts(), tokenizer.TrainOptions{VocabSize: 300})
	if err != nil {
		t.Fatal(err)
	}
	const chunk, ctxLen = 32, 100
	seqs, total, err := c.sequences(tok, chunk, ctxLen)
	if err != nil {
		t.Fatal(err)
	}
	long := len(tok.Encode(c.docs[0].Text, false)) + 1 // with EOS
	wantChunks := (long + chunk - 2) / (chunk - 1)
	if len(seqs) != wantChunks+2 {
		t.Fatalf("%d sequences, want %d chunks and 2 documents", len(seqs), wantChunks)
	}
	sum, text := 0, ""
	for i, s := range seqs {
		sum += len(s.Tokens)
		if i < wantChunks && len(s.Tokens) > chunk || s.Tokens[0] != tok.BOS() || len(s.Tokens) < 2 {
			t.Errorf("sequence %d: %d tokens starting with %d, want at most %d starting with BOS", i, len(s.Tokens), s.Tokens[0], chunk)
		}
		if i < wantChunks {
			text += tok.Decode(s.Tokens[1:])
		}
	}
	if sum != total {
		t.Errorf("total %d, sequences hold %d", total, sum)
	}
	if want := c.docs[0].Text + "<|eos|>"; text != want {
		t.Errorf("chunks decode to %q, want %q", text, want)
	}
	fact, inCtx := seqs[wantChunks], seqs[wantChunks+1]
	if fact.Start != 1 {
		t.Errorf("fact document: loss starts at %d, want 1 (the whole text)", fact.Start)
	}
	if got := tok.Decode(inCtx.Tokens[inCtx.Start:]); got != " Veltmor<|eos|>" {
		t.Errorf("in-context document: loss covers %q, want the answer and EOS", got)
	}
	c.docs = append(c.docs, doc{Text: strings.Repeat("word ", ctxLen), Completion: " x"})
	if _, _, err := c.sequences(tok, chunk, ctxLen); err == nil {
		t.Error("a question longer than the context was accepted")
	}
}

// TestPretrainReproducible runs a tiny recipe three times: straight through, again on one thread, and
// stopped halfway and resumed. All three files must be identical, carry the recipe, and load.
func TestPretrainReproducible(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r := tinyRecipe()
	a, b, c := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf"), filepath.Join(dir, "c.gguf")
	var stages []string
	rep, err := Pretrain(ctx, r, a, func(p Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{StageData, StageTokenizer, StageTrain, StageSave, StageEval}; !reflect.DeepEqual(stages, want) {
		t.Errorf("stages %v, want %v", stages, want)
	}
	if rep.Steps != r.Train.Steps || rep.FileBytes == 0 || rep.Params == 0 || len(rep.Eval.Facts) != 6 || len(rep.Eval.InContext) != 4 {
		t.Errorf("report: %+v", rep)
	}
	if _, err := os.Stat(CheckpointPath(a)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint left behind: %v", err)
	}
	procs := runtime.GOMAXPROCS(1)
	_, err = Pretrain(ctx, r, b, nil)
	runtime.GOMAXPROCS(procs)
	if err != nil {
		t.Fatal(err)
	}

	stopCtx, stop := context.WithCancel(ctx)
	_, err = Pretrain(stopCtx, r, c, func(p Progress) {
		if p.Stage == StageTrain && p.Train.Step == r.Train.Steps/2 {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(CheckpointPath(c)); err != nil {
		t.Fatalf("no checkpoint after stopping: %v", err)
	}
	rep, err = Pretrain(ctx, r, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedFrom != r.Train.Steps/2 {
		t.Errorf("resumed from step %d, want %d", rep.ResumedFrom, r.Train.Steps/2)
	}

	want, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{b, c} {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", filepath.Base(p), filepath.Base(a))
		}
	}

	f, err := gguf.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadRecipe(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("recorded recipe %+v, want %+v", got, r)
	}
	if seed, err := f.Meta.Int64(KeyWorldSeed); err != nil || seed != r.World.Seed {
		t.Errorf("world seed %d (%v), want %d", seed, err, r.World.Seed)
	}
	m, err := weights.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != r.Name || m.Config.Dim != r.Model.Dim {
		t.Errorf("loaded %q with dim %d", m.Name, m.Config.Dim)
	}
}

// TestPretrainStopDuringEval: a run stopped after training resumes at its last step, not from scratch.
func TestPretrainStopDuringEval(t *testing.T) {
	r := tinyRecipe()
	out := filepath.Join(t.TempDir(), "m.gguf")
	ctx, stop := context.WithCancel(context.Background())
	_, err := Pretrain(ctx, r, out, func(p Progress) {
		if p.Stage == StageSave {
			stop()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v, want context.Canceled", err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Pretrain(context.Background(), r, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ResumedFrom != r.Train.Steps {
		t.Errorf("resumed from step %d, want %d", rep.ResumedFrom, r.Train.Steps)
	}
	if again, err := os.ReadFile(out); err != nil || !bytes.Equal(again, first) {
		t.Errorf("the resumed run wrote a different file (%v)", err)
	}
	if _, err := os.Stat(CheckpointPath(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkpoint left behind: %v", err)
	}
}

func TestPretrainBadInput(t *testing.T) {
	r := tinyRecipe()
	r.Train.Steps = 0
	if _, err := Pretrain(context.Background(), r, filepath.Join(t.TempDir(), "m.gguf"), nil); err == nil {
		t.Error("a recipe with no steps was accepted")
	}
	if _, err := Pretrain(context.Background(), tinyRecipe(), "", nil); err == nil {
		t.Error("an empty output path was accepted")
	}
	r = tinyRecipe()
	if _, err := Pretrain(context.Background(), r, filepath.Join(t.TempDir(), "no", "such", "dir", "m.gguf"), nil); err == nil {
		t.Error("an output in a missing directory was accepted")
	}
}
