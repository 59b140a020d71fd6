package train_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/fastslow/fastslow/weights/train"
)

// bytesEncoder is a toy tokenizer: one token per byte, BOS 256, EOS 257, and "<end>" as the end-of-turn token 258.
type bytesEncoder struct{}

func (bytesEncoder) Encode(text string, addBOS bool) []int32 {
	var out []int32
	if addBOS {
		out = append(out, 256)
	}
	for i := 0; i < len(text); i++ {
		if strings.HasPrefix(text[i:], "<end>") {
			out, i = append(out, 258), i+4
			continue
		}
		out = append(out, int32(text[i]))
	}
	return out
}

func (bytesEncoder) EOS() int32 { return 257 }

// Each assistant turn becomes one sequence: the rendered turns before it are context, the answer and the
// end-of-turn token that closes it carry the loss.
func ExampleChatSequences() {
	render := func(msgs []train.Message) (string, error) { // a toy chat template
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "%s: %s<end>", m.Role, m.Content)
		}
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != "assistant" {
			b.WriteString("assistant: ")
		}
		return b.String(), nil
	}
	conv := []train.Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Yo"}, {Role: "user", Content: "Bye"}, {Role: "assistant", Content: "Ok"}}
	seqs, err := train.ChatSequences(bytesEncoder{}, []int32{258}, render, conv, 512)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range seqs {
		fmt.Printf("context %d tokens, loss on %v\n", s.Start, s.Tokens[s.Start:])
	}
	// Output:
	// context 21 tokens, loss on [89 111 258]
	// context 45 tokens, loss on [79 107 258]
}
