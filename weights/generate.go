package weights

import (
	"context"

	"github.com/fastslow/fastslow/weights/llama"
)

// Generate continues prompt by up to maxTokens tokens (sampled by s, with adapter a, which may be nil) and
// stops before any end-of-generation token of the model (m.EOG), as the Ollama runner that serves the model
// does: a chat model ends its turn at <|im_end|>, <|eot_id|> or <end_of_turn> here too. The stopping token is
// not included. It is the engine's one generation path for a loaded model; the decoder's own
// llama.Model.Generate takes an explicit stop list.
func (m *Model) Generate(ctx context.Context, prompt []int32, maxTokens int, s llama.Sampler, a *llama.Adapter) ([]int32, error) {
	return m.Model.Generate(ctx, prompt, maxTokens, s, m.EOG, a)
}
