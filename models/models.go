// Package models ships the project's embedded default base model inside the binary.
//
// The model is a small llama decoder that the project pretrained itself, with package eval/pretrain,
// on its synthetic world (biographies of made-up people, question-answer pairs about some of them,
// documents that use facts given in context) and real prose. No weights are ever downloaded: the
// file is rebuilt from its recipe, recorded in its metadata under fastslow.recipe, with
//
//	fastslow pretrain --out models/default.gguf
//
// See README.md in this directory for the recipe, the measured accuracies, the time it took and the
// file size.
package models

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"

	"github.com/fastslow/fastslow/internal/atomicfile"
)

// DefaultName is the general.name of the embedded default model.
const DefaultName = "fastslow-base"

//go:embed default.gguf
var defaultGGUF []byte

// Default returns a copy of the embedded default model, a GGUF file.
func Default() ([]byte, error) {
	if len(defaultGGUF) < 4 || string(defaultGGUF[:4]) != "GGUF" {
		return nil, errors.New("models: the embedded default model is missing or damaged")
	}
	return bytes.Clone(defaultGGUF), nil
}

// WriteDefault writes the embedded default model to path, atomically: the file is either the whole
// model or untouched.
func WriteDefault(path string) error {
	data, err := Default()
	if err != nil {
		return err
	}
	err = atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("models: write default model: %w", err)
	}
	return nil
}
