package pretrain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
	"github.com/fastslow/fastslow/weights/train"
)

// Stages of Pretrain, as reported in Progress.Stage.
const (
	StageData      = "data"      // building the world and the corpus
	StageTokenizer = "tokenizer" // training the vocabulary
	StageTrain     = "train"     // optimizer steps
	StageSave      = "save"      // writing the GGUF file
	StageEval      = "eval"      // measuring the saved model
)

// Progress reports what Pretrain is doing.
type Progress struct {
	Stage   string
	Message string         // a one-line summary of the stage, empty during training steps
	Train   train.Progress // the step just finished, in StageTrain with an empty Message
}

// DataStats describes the tokenized pretraining data.
type DataStats struct {
	Biographies int `json:"biographies"`
	Prose       int `json:"prose_passages"`
	FactDocs    int `json:"fact_docs"`
	ContextDocs int `json:"context_docs"`
	Sequences   int `json:"sequences"`
	// Tokens is the number of tokens in one pass over the sequences.
	Tokens int `json:"tokens"`
}

// Report is the outcome of Pretrain.
type Report struct {
	Recipe      Recipe    `json:"recipe"`
	Out         string    `json:"out"`
	FileBytes   int64     `json:"file_bytes"`
	Params      int       `json:"params"`
	Vocab       int       `json:"vocab"`
	Data        DataStats `json:"data"`
	Steps       int       `json:"steps"`
	ResumedFrom int       `json:"resumed_from"`
	FinalLoss   float64   `json:"final_loss"`
	// PredictedTokens counts the tokens that carried the loss over the whole run.
	PredictedTokens int64 `json:"predicted_tokens"`
	// TokensPerSecond is the mean training throughput of this call's steps, all batch tokens
	// (context included) per second, as the trainer measures it.
	TokensPerSecond float64    `json:"tokens_per_second"`
	TrainSeconds    float64    `json:"train_seconds"`
	Seconds         float64    `json:"seconds"`
	Eval            Evaluation `json:"eval"`
}

// CheckpointPath is where Pretrain keeps the training state for a model written to out.
func CheckpointPath(out string) string { return out + ".ckpt" }

// checkpointEvery is the number of steps between checkpoints: a few seconds of work at most is lost
// to a crash, and writing the state (parameters and two moments) costs far less than the steps.
const checkpointEvery = 50

// Pretrain builds the model r describes and writes it to out as a GGUF file: it builds the world and
// the corpus, trains the tokenizer, trains the model from scratch, saves it with the recipe in its
// metadata (KeyRecipe, KeyWorldSeed), and evaluates the saved file.
//
// Training checkpoints to CheckpointPath(out). When ctx is cancelled the state is saved and the error
// wraps ctx.Err(); calling Pretrain again with the same recipe resumes where it stopped and reaches the
// same model. The checkpoint is removed once the model is saved and evaluated. progress, if not nil,
// sees each stage and every training step.
func Pretrain(ctx context.Context, r Recipe, out string, progress func(Progress)) (Report, error) {
	start := time.Now()
	if progress == nil {
		progress = func(Progress) {}
	}
	if out == "" {
		return Report{}, errors.New("pretrain: no output path")
	}
	if err := r.Validate(); err != nil {
		return Report{}, err
	}
	typ, _ := saveType(r.Type) // Validate checked it.
	rep := Report{Recipe: r, Out: out}

	c, err := buildCorpus(ctx, r)
	if err != nil {
		return rep, err
	}
	progress(Progress{Stage: StageData, Message: fmt.Sprintf("%d biographies, %d prose passages, %d fact and %d in-context documents",
		c.bios, c.prose, c.facts, c.contexts)})

	tok, err := tokenizer.Train(ctx, c.texts(), tokenizer.TrainOptions{VocabSize: r.VocabSize, Pre: tokenizer.PreGPT2})
	if err != nil {
		return rep, fmt.Errorf("pretrain: tokenizer: %w", err)
	}
	seqs, tokens, err := c.sequences(tok, r.Corpus.ChunkTokens, r.Model.ContextLength)
	if err != nil {
		return rep, err
	}
	rep.Vocab = tok.Size()
	rep.Data = DataStats{Biographies: c.bios, Prose: c.prose, FactDocs: c.facts, ContextDocs: c.contexts, Sequences: len(seqs), Tokens: tokens}
	progress(Progress{Stage: StageTokenizer, Message: fmt.Sprintf("vocabulary of %d tokens; %d sequences, %d tokens per epoch", tok.Size(), len(seqs), tokens)})

	m, err := llama.New(r.Model.Config(tok.Size()))
	if err != nil {
		return rep, fmt.Errorf("pretrain: %w", err)
	}
	m.InitRandom(r.Model.InitSeed, r.Model.InitStd)
	rep.Params = m.NumParams()
	opt := r.Train.Options()
	opt.CheckpointPath = CheckpointPath(out)
	opt.CheckpointEvery = checkpointEvery
	var tpsSum float64
	tpsN := 0
	res, err := train.Run(ctx, train.FullObjective(m), seqs, opt, func(p train.Progress) {
		tpsSum += p.TokensPerSec
		tpsN++
		progress(Progress{Stage: StageTrain, Train: p})
	})
	if tpsN > 0 {
		rep.TokensPerSecond = tpsSum / float64(tpsN)
	}
	rep.PredictedTokens = res.Tokens
	rep.Steps, rep.ResumedFrom, rep.FinalLoss = res.Steps, res.ResumedFrom, res.FinalLoss()
	rep.TrainSeconds = res.Elapsed.Seconds()
	if err != nil {
		return rep, fmt.Errorf("pretrain: %w", err)
	}

	recipe, err := json.Marshal(r)
	if err != nil {
		return rep, fmt.Errorf("pretrain: record recipe: %w", err)
	}
	err = weights.Save(out, m, tok, weights.SaveOptions{Name: r.Name, Type: typ, Extra: []gguf.KV{
		{Key: KeyRecipe, Value: string(recipe)},
		{Key: KeyWorldSeed, Value: r.World.Seed},
	}})
	if err != nil {
		return rep, fmt.Errorf("pretrain: %w", err)
	}
	if st, err := os.Stat(out); err == nil {
		rep.FileBytes = st.Size()
	}
	progress(Progress{Stage: StageSave, Message: fmt.Sprintf("wrote %s (%d bytes, %s)", out, rep.FileBytes, r.Type)})

	// Evaluate the file as saved: F16 rounding of the weights is part of the shipped model.
	saved, err := weights.Load(out)
	if err != nil {
		return rep, fmt.Errorf("pretrain: %w", err)
	}
	if rep.Eval, err = Evaluate(ctx, saved, r, EvalOptions{}); err != nil {
		return rep, err
	}
	progress(Progress{Stage: StageEval, Message: fmt.Sprintf("evaluated in %.0fs", rep.Eval.Seconds)})
	// Only now: a run stopped during the evaluation resumes at its last step instead of retraining.
	if err := os.Remove(opt.CheckpointPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return rep, fmt.Errorf("pretrain: remove checkpoint: %w", err)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}
