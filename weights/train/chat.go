package train

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/fastslow/fastslow/weights/llama"
)

// Message is one turn of a conversation in the HF/OpenAI SFT convention: Role is "system", "user" or
// "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Render turns a conversation into the prompt text the serving runtime gives the model, as its chat
// template does: for a conversation that ends with a user turn, the text up to where the assistant's answer
// begins.
type Render func(msgs []Message) (string, error)

// CheckConversation reports what makes msgs unusable as chat training data: an unknown role or no assistant
// turn with content.
func CheckConversation(msgs []Message) error {
	answers := 0
	for i, m := range msgs {
		switch m.Role {
		case "system", "user":
		case "assistant":
			if m.Content != "" {
				answers++
			}
		default:
			return fmt.Errorf("messages[%d]: unknown role %q (want system, user or assistant)", i, m.Role)
		}
	}
	if answers == 0 {
		return errors.New("messages: no assistant turn with content to learn")
	}
	return nil
}

// ChatSequences builds the supervised sequences of one conversation, with the loss on the assistant turns
// only: one sequence per assistant turn k, whose context is the rendering of the turns before it (the
// prompt the runtime gives the model when it is to answer, tokenized with BOS as the runtime does) and whose
// loss covers the tokens the model must then produce, up to and including the first end-of-generation
// token. Those are found by rendering the conversation prefix by prefix: the turns up to k followed by an
// empty user turn render as the prompt plus the answer plus whatever closes the turn, and the answer's
// tokens run to the first token of eog in that continuation. A template that closes turns without an
// end-of-generation token gets the answer's content followed by EOS instead. Since the model is causal,
// the loss summed over these sequences equals the loss of the whole conversation masked to its assistant
// spans.
//
// It fails if the conversation is not valid (CheckConversation), a rendering fails, a prefix's rendering is
// not the start of the longer one's, or a sequence is longer than ctxLen.
func ChatSequences(tok Encoder, eog []int32, render Render, msgs []Message, ctxLen int) ([]llama.Sequence, error) {
	if tok == nil || render == nil {
		return nil, errors.New("train: chat sequences: nil encoder or renderer")
	}
	if err := CheckConversation(msgs); err != nil {
		return nil, err
	}
	var out []llama.Sequence
	for k, m := range msgs {
		if m.Role != "assistant" || m.Content == "" {
			continue
		}
		prompt, err := render(msgs[:k])
		if err != nil {
			return nil, fmt.Errorf("messages[:%d]: %w", k, err)
		}
		next := append(slices.Clone(msgs[:k+1]), Message{Role: "user"})
		full, err := render(next)
		if err != nil {
			return nil, fmt.Errorf("messages[:%d] and an empty user turn: %w", k+1, err)
		}
		if !strings.HasPrefix(full, prompt) {
			return nil, fmt.Errorf("messages[%d]: the template renders the turns before it as %q, which does not start the rendering with it (%q); it cannot be split into turns",
				k, truncate(prompt), truncate(full))
		}
		p := tok.Encode(prompt, true)
		if len(p) == 0 {
			return nil, fmt.Errorf("messages[%d]: the turns before it render to no tokens", k)
		}
		answer := tok.Encode(full[len(prompt):], false)
		end := slices.IndexFunc(answer, func(t int32) bool { return slices.Contains(eog, t) })
		if end >= 0 {
			answer = answer[:end+1]
		} else {
			answer = append(tok.Encode(m.Content, false), tok.EOS())
		}
		n := len(p) + len(answer)
		if n > ctxLen {
			return nil, fmt.Errorf("messages[%d]: %d prompt + %d answer tokens = %d exceed the context length %d", k, len(p), len(answer), n, ctxLen)
		}
		out = append(out, llama.Sequence{Tokens: append(p, answer...), Start: len(p)})
	}
	return out, nil
}
