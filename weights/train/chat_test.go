package train

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

// charEncoder encodes every byte as its own token, "<E>" as the end-of-turn token 300 and "<B>" as BOS 256,
// EOS being 257.
type charEncoder struct{}

func (charEncoder) Encode(text string, addBOS bool) []int32 {
	var out []int32
	if addBOS {
		out = append(out, 256)
	}
	for i := 0; i < len(text); i++ {
		if strings.HasPrefix(text[i:], "<E>") {
			out = append(out, 300)
			i += 2
			continue
		}
		out = append(out, int32(text[i]))
	}
	return out
}

func (charEncoder) EOS() int32 { return 257 }

// turns renders like a chat template whose turns end with <E> and that adds the assistant's header when the
// conversation does not end with the assistant; with closing false, turns end without <E>.
func turns(closing bool) Render {
	return func(msgs []Message) (string, error) {
		var b strings.Builder
		for _, m := range msgs {
			b.WriteString(m.Role[:1] + ":" + m.Content)
			if closing {
				b.WriteString("<E>")
			}
		}
		if len(msgs) == 0 || msgs[len(msgs)-1].Role != "assistant" {
			b.WriteString("a:")
		}
		return b.String(), nil
	}
}

func enc(s string) []int32 { return charEncoder{}.Encode(s, false) }

func TestChatSequences(t *testing.T) {
	conv := []Message{{"system", "S"}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}, {"assistant", "A2"}}
	seq := func(prompt, answer string) llama.Sequence {
		p := append([]int32{256}, enc(prompt)...)
		return llama.Sequence{Tokens: append(p, enc(answer)...), Start: len(p)}
	}
	tests := []struct {
		name    string
		render  Render
		msgs    []Message
		want    []llama.Sequence
		wantErr string
	}{
		{
			name: "two turns, each answer ends at the end-of-turn token", render: turns(true), msgs: conv,
			want: []llama.Sequence{seq("s:S<E>u:Q1<E>a:", "A1<E>"), seq("s:S<E>u:Q1<E>a:A1<E>u:Q2<E>a:", "A2<E>")},
		},
		{
			name: "a template without end-of-turn tokens ends answers with EOS", render: turns(false), msgs: conv[:3],
			want: []llama.Sequence{{Tokens: append(append([]int32{256}, enc("s:Su:Q1a:")...), append(enc("A1"), 257)...), Start: 10}},
		},
		{
			name: "an empty assistant turn is context", render: turns(true),
			msgs: []Message{{"user", "Q"}, {"assistant", ""}, {"user", "R"}, {"assistant", "B"}},
			want: []llama.Sequence{seq("u:Q<E>a:<E>u:R<E>a:", "B<E>")},
		},
		{name: "unknown role", render: turns(true), msgs: []Message{{"user", "Q"}, {"tool", "x"}, {"assistant", "A"}}, wantErr: `messages[1]: unknown role "tool"`},
		{name: "no assistant turn", render: turns(true), msgs: []Message{{"system", "S"}, {"user", "Q"}}, wantErr: "no assistant turn"},
		{name: "render fails", render: func([]Message) (string, error) { return "", errors.New("boom") }, msgs: conv[:3], wantErr: "messages[:2]: boom"},
		{
			name: "prefix rendered differently",
			render: func(msgs []Message) (string, error) {
				s, _ := turns(true)(msgs)
				if len(msgs) > 2 {
					s = "x" + s
				}
				return s, nil
			},
			msgs: conv[:3], wantErr: "cannot be split into turns",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChatSequences(charEncoder{}, []int32{300}, tt.render, tt.msgs, 1000)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
	if _, err := ChatSequences(charEncoder{}, []int32{300}, turns(true), conv, 20); err == nil || !strings.Contains(err.Error(), "exceed the context length 20") {
		t.Errorf("a conversation longer than the context: %v", err)
	}
}
