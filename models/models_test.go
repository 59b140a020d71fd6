package models

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fastslow/fastslow/eval/pretrain"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestDefaultRecipe: the embedded model was made by DefaultRecipe, so `fastslow pretrain` rebuilds it.
func TestDefaultRecipe(t *testing.T) {
	data, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Read(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := pretrain.ReadRecipe(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := pretrain.DefaultRecipe(); !reflect.DeepEqual(got, want) {
		t.Errorf("embedded model's recipe\n%+v\ndiffers from DefaultRecipe\n%+v\nrebuild it: fastslow pretrain --out models/default.gguf", got, want)
	}
	if DefaultName != pretrain.DefaultName {
		t.Errorf("DefaultName %q, pretrain.DefaultName %q", DefaultName, pretrain.DefaultName)
	}
	if name, err := f.Meta.String("general.name"); err != nil || name != DefaultName {
		t.Errorf("general.name %q (%v), want %q", name, err, DefaultName)
	}
	if seed, err := f.Meta.Int64(pretrain.KeyWorldSeed); err != nil || seed != got.World.Seed {
		t.Errorf("world seed %d (%v), want %d", seed, err, got.World.Seed)
	}
	data[0] = 'X' // Default returns a copy: the embedded bytes stay intact.
	if again, err := Default(); err != nil || again[0] != 'G' {
		t.Errorf("Default after changing a returned copy: %v", err)
	}
}

// writeDefault writes the embedded model to a temporary file and loads it; it returns the file's path too.
func writeDefault(t *testing.T) (*weights.Model, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "default.gguf")
	if err := WriteDefault(path); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

// TestDefaultAnswers loads the embedded model and asks it some of the questions it was evaluated on.
func TestDefaultAnswers(t *testing.T) {
	m, _ := writeDefault(t)
	limit := 28 // four people's seven attributes per group
	if testing.Short() {
		limit = 7
	}
	ev, err := pretrain.Evaluate(context.Background(), m, pretrain.DefaultRecipe(), pretrain.EvalOptions{Limit: limit, NoPerplexity: true})
	if err != nil {
		t.Fatal(err)
	}
	// Floors well below the accuracies measured on all questions (README.md), so the test checks
	// the model works, not the luck of a small sample.
	floors := []struct {
		group, format, context string
		min                    float64
	}{
		{"train", "qa", "", 0.5},
		{"train", "cloze", "", 0.5},
		{"newcomers", "qa", "sentence", 0.25},
	}
	for _, fl := range floors {
		s, ok := ev.Score(fl.group, fl.format, fl.context)
		if !ok {
			t.Fatalf("no score for %s %s %s", fl.group, fl.format, fl.context)
		}
		if s.Accuracy < fl.min {
			t.Errorf("%s %s %s: %d/%d correct, want at least %.0f%%", fl.group, fl.format, fl.context, s.Correct, s.Total, 100*fl.min)
		}
	}
}

func TestWriteDefault(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDefault(path); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, defaultGGUF) {
		t.Error("written file differs from the embedded model")
	}
	if err := WriteDefault(filepath.Join(dir, "missing", "m.gguf")); err == nil {
		t.Error("WriteDefault into a missing directory succeeded")
	}
}
