package pretrain

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// Metadata keys under which Pretrain records how a model was made.
const (
	// KeyRecipe holds the Recipe as JSON.
	KeyRecipe = "fastslow.recipe"
	// KeyWorldSeed holds the world seed (also inside the recipe), as INT64, so a reader can build
	// the world without parsing the recipe.
	KeyWorldSeed = "fastslow.world.seed"
)

// Recipe is everything that determines a pretrained model: the world, the corpus, the pretraining
// mix, the vocabulary, the model shape and the training run. The same Recipe gives the same model on
// the same machine. Every field is recorded in the model file (KeyRecipe) except the machine-specific
// location of the prose.
type Recipe struct {
	// Name is written to general.name.
	Name  string      `json:"name"`
	World WorldRecipe `json:"world"`
	// Corpus sizes the biography and prose text.
	Corpus CorpusRecipe `json:"corpus"`
	// Mix adds question-answer and in-context documents to the corpus.
	Mix MixRecipe `json:"mix"`
	// VocabSize is the size of the byte-level BPE vocabulary trained on the pretraining text.
	VocabSize int         `json:"vocab_size"`
	Model     ModelRecipe `json:"model"`
	Train     TrainRecipe `json:"train"`
	// Type is the tensor type of the saved matrices: "F16" or "F32".
	Type string `json:"type"`
}

// WorldRecipe selects the synthetic world (see world.Options). Unlike world.Options, zero values
// are not replaced by defaults: the recipe records what was used.
type WorldRecipe struct {
	Seed      int64   `json:"seed"`
	Known     int     `json:"known"`
	Newcomers int     `json:"newcomers"`
	TrainFrac float64 `json:"train_frac"`
	ValFrac   float64 `json:"val_frac"`
}

// Options returns the world options of w.
func (w WorldRecipe) Options() world.Options {
	return world.Options{Seed: w.Seed, Known: w.Known, Newcomers: w.Newcomers, TrainFrac: w.TrainFrac, ValFrac: w.ValFrac}
}

// CorpusRecipe sizes the pretraining text (see world.CorpusOptions).
type CorpusRecipe struct {
	// BioVariants is the number of biography paraphrases per known person (1 to world.NumBioTemplates).
	BioVariants int `json:"bio_variants"`
	// BioRepeats is how many copies of each biography enter the corpus. Repeating the facts within
	// an epoch, rather than running more epochs, lets the model see them often while the prose and
	// the in-context documents, which teach skills rather than facts, are seen fewer times.
	BioRepeats int `json:"bio_repeats"`
	// ProseChars and HeldOutChars are roughly how much real prose to train on and to hold out for
	// perplexity.
	ProseChars   int `json:"prose_chars"`
	HeldOutChars int `json:"held_out_chars"`
	// ChunkTokens is the longest training sequence cut from a prose passage, BOS included; longer
	// passages are split. Short sequences keep attention, which grows with the square of the length,
	// cheap.
	ChunkTokens int `json:"chunk_tokens"`
	// ProsePath is the war-and-peace.txt to read; empty means world.LocateProse. It is a location on
	// this machine, not part of the recipe, and is not recorded.
	ProsePath string `json:"-"`
}

// MixRecipe adds supervised-looking documents to the pretraining text. Following Allen-Zhu and Li
// (Physics of Language Models, part 3.1), facts stored from biographies only become extractable by
// questions when pretraining also shows question-answer pairs for some of the people; and a small
// model learns to use facts placed in its context only if it sees documents that do so.
type MixRecipe struct {
	// FactTasks are world tasks (world.TaskQA, world.TaskCloze) whose Train split — questions
	// about the people of the world's train group — is added as documents. The validation and
	// test groups' questions never are, so their accuracy measures extraction of facts learnt from
	// biographies alone.
	FactTasks []string `json:"fact_tasks"`
	// FactRepeats is how many copies of each fact document enter the corpus.
	FactRepeats int `json:"fact_repeats"`
	// ContextPeople is the number of extra people, drawn from a second world seeded ContextSeed
	// and disjoint from the main world, whose facts appear only as in-context documents: a
	// biography (or one of its sentences), then a question about it and the answer. Only the answer
	// carries the loss, so the model learns to copy facts from its context rather than to memorize
	// these people.
	ContextPeople int   `json:"context_people"`
	ContextSeed   int64 `json:"context_seed"`
	// ContextPerPerson is the number of in-context documents per extra person, each about a
	// different attribute (at most the number of attributes).
	ContextPerPerson int `json:"context_per_person"`
	// ContextFullBio is the share of in-context documents whose context is a whole biography; the
	// rest give only the sentence that states the fact.
	ContextFullBio float64 `json:"context_full_bio"`
	// Seed draws the choices made while building the mix (paraphrases, attributes, formats).
	Seed uint64 `json:"seed"`
}

// ModelRecipe is the shape and initialization of the llama decoder; the vocabulary size comes from
// the trained tokenizer.
type ModelRecipe struct {
	Dim           int     `json:"dim"`
	Hidden        int     `json:"hidden"`
	Layers        int     `json:"layers"`
	Heads         int     `json:"heads"`
	KVHeads       int     `json:"kv_heads"`
	ContextLength int     `json:"context_length"`
	RopeBase      float32 `json:"rope_base"`
	NormEps       float32 `json:"norm_eps"`
	TiedOutput    bool    `json:"tied_output"`
	// InitStd is the standard deviation of the normal initial weights, InitSeed their seed.
	InitStd  float32 `json:"init_std"`
	InitSeed uint64  `json:"init_seed"`
}

// Config returns the llama configuration for a vocabulary of vocab tokens.
func (m ModelRecipe) Config(vocab int) llama.Config {
	return llama.Config{
		Vocab: vocab, Dim: m.Dim, Hidden: m.Hidden, Layers: m.Layers, Heads: m.Heads, KVHeads: m.KVHeads,
		ContextLength: m.ContextLength, RopeBase: m.RopeBase, NormEps: m.NormEps, TiedOutput: m.TiedOutput,
	}
}

// TrainRecipe is the optimization run (see train.Options).
type TrainRecipe struct {
	Steps       int     `json:"steps"`
	BatchSize   int     `json:"batch_size"`
	LR          float64 `json:"lr"`
	Warmup      int     `json:"warmup"`
	Decay       string  `json:"decay"`
	MinLR       float64 `json:"min_lr"`
	WeightDecay float64 `json:"weight_decay"`
	ClipNorm    float64 `json:"clip_norm"`
	// Seed orders the data.
	Seed uint64 `json:"seed"`
}

// Options returns the training options of t.
func (t TrainRecipe) Options() train.Options {
	return train.Options{
		Steps: t.Steps, BatchSize: t.BatchSize, LR: t.LR, Warmup: t.Warmup, Decay: t.Decay, MinLR: t.MinLR,
		WeightDecay: t.WeightDecay, ClipNorm: t.ClipNorm, Seed: t.Seed,
	}
}

// DefaultName is the general.name of the model DefaultRecipe makes.
const DefaultName = "fastslow-base"

// DefaultRecipe returns the recipe of the project's embedded default model (package models).
// Changing it changes that model: rebuild it with `fastslow pretrain --out models/default.gguf`.
func DefaultRecipe() Recipe {
	return Recipe{
		Name:  DefaultName,
		World: WorldRecipe{Seed: 1, Known: 200, Newcomers: 40, TrainFrac: 0.6, ValFrac: 0.2},
		Corpus: CorpusRecipe{
			BioVariants: world.NumBioTemplates, BioRepeats: 2, ProseChars: 150_000, HeldOutChars: 20_000, ChunkTokens: 128,
		},
		Mix: MixRecipe{
			FactTasks: []string{world.TaskQA, world.TaskCloze}, FactRepeats: 2,
			ContextPeople: 1200, ContextSeed: 1_000_001, ContextPerPerson: 5, ContextFullBio: 0.5, Seed: 1,
		},
		VocabSize: 1024,
		Model: ModelRecipe{
			Dim: 128, Hidden: 352, Layers: 4, Heads: 4, KVHeads: 4, ContextLength: 256,
			RopeBase: 10000, NormEps: 1e-5, TiedOutput: true, InitStd: 0.02, InitSeed: 1,
		},
		Train: TrainRecipe{
			Steps: 2600, BatchSize: 32, LR: 3e-3, Warmup: 100, Decay: train.DecayCosine, MinLR: 3e-4,
			WeightDecay: 0.01, ClipNorm: 1, Seed: 1,
		},
		Type: "F16",
	}
}

// Validate reports the first problem with r, or nil.
func (r Recipe) Validate() error {
	switch {
	case r.Name == "":
		return errors.New("pretrain: recipe has no name")
	case r.VocabSize < 256+3:
		return fmt.Errorf("pretrain: vocab size %d is below the 256 bytes and 3 special tokens", r.VocabSize)
	case r.Corpus.BioVariants < 1 || r.Corpus.BioVariants > world.NumBioTemplates:
		return fmt.Errorf("pretrain: bio variants %d out of range 1..%d", r.Corpus.BioVariants, world.NumBioTemplates)
	case r.Corpus.BioRepeats < 1:
		return fmt.Errorf("pretrain: bio repeats %d must be at least 1", r.Corpus.BioRepeats)
	case r.Corpus.ProseChars < 0 || r.Corpus.HeldOutChars < 0:
		return errors.New("pretrain: negative prose size")
	case r.Corpus.ChunkTokens < 16 || r.Corpus.ChunkTokens > r.Model.ContextLength:
		return fmt.Errorf("pretrain: chunk of %d tokens must be 16 to the context length %d", r.Corpus.ChunkTokens, r.Model.ContextLength)
	case r.Mix.FactRepeats < 0 || r.Mix.ContextPeople < 0 || r.Mix.ContextPerPerson < 0:
		return errors.New("pretrain: negative mix size")
	case r.Mix.ContextPerPerson > len(world.Attributes()):
		return fmt.Errorf("pretrain: %d in-context documents per person, at most %d", r.Mix.ContextPerPerson, len(world.Attributes()))
	case r.Mix.ContextFullBio < 0 || r.Mix.ContextFullBio > 1:
		return fmt.Errorf("pretrain: in-context full-biography share %g out of [0, 1]", r.Mix.ContextFullBio)
	case r.Model.InitStd <= 0:
		return fmt.Errorf("pretrain: initial weight spread %g must be positive", r.Model.InitStd)
	case r.Train.Steps <= 0:
		return fmt.Errorf("pretrain: %d training steps", r.Train.Steps)
	}
	for _, t := range r.Mix.FactTasks {
		if t != world.TaskQA && t != world.TaskCloze {
			return fmt.Errorf("pretrain: fact task %q: only %q and %q are fact questions", t, world.TaskQA, world.TaskCloze)
		}
	}
	if _, err := saveType(r.Type); err != nil {
		return err
	}
	if err := r.Model.Config(r.VocabSize).Validate(); err != nil {
		return fmt.Errorf("pretrain: model: %w", err)
	}
	if _, err := world.New(r.World.Options()); err != nil {
		return fmt.Errorf("pretrain: %w", err)
	}
	return nil
}

func saveType(s string) (gguf.Type, error) {
	switch s {
	case "F16":
		return gguf.TypeF16, nil
	case "F32":
		return gguf.TypeF32, nil
	}
	return 0, fmt.Errorf("pretrain: tensor type %q: want F16 or F32", s)
}

// ReadRecipe returns the recipe recorded in a model file written by Pretrain.
func ReadRecipe(f *gguf.File) (Recipe, error) {
	s, err := f.Meta.String(KeyRecipe)
	if err != nil {
		return Recipe{}, fmt.Errorf("pretrain: read recipe: %w", err)
	}
	var r Recipe
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Recipe{}, fmt.Errorf("pretrain: read recipe: %w", err)
	}
	return r, nil
}
