package weights

import (
	"fmt"

	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// ChatSequences tokenizes conversations for supervised fine-tuning with the loss on their assistant turns
// only (train.ChatSequences), rendered by render, the model's chat template as the serving runtime applies
// it; an answer ends at the first of the model's end-of-generation tokens (m.EOG). The error names the
// conversation (counting from 1) that cannot be used.
func ChatSequences(m *Model, render train.Render, convs [][]train.Message) ([]llama.Sequence, error) {
	var seqs []llama.Sequence
	for i, c := range convs {
		s, err := train.ChatSequences(m.Tokenizer, m.EOG, render, c, m.Config.ContextLength)
		if err != nil {
			return nil, fmt.Errorf("conversation %d: %w", i+1, err)
		}
		seqs = append(seqs, s...)
	}
	return seqs, nil
}
