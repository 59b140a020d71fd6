package ollama_test

import (
	"fmt"
	"log"

	ollamaapi "github.com/ollama/ollama/api"

	"github.com/fastslow/fastslow/adapters/ollama"
)

// A chat template renders a conversation into the prompt Ollama's /api/chat gives the model: with the
// conversation ending on a user turn, the text up to where the assistant's answer begins.
func ExampleParseChatTemplate() {
	t, err := ollama.ParseChatTemplate("llama3-like", `{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>

{{ .Content }}<|eot_id|>
{{- end }}<|start_header_id|>assistant<|end_header_id|>

`)
	if err != nil {
		log.Fatal(err)
	}
	t.System = "Answer briefly." // the model's SYSTEM, used when the conversation has none
	text, err := t.Render([]ollamaapi.Message{{Role: "user", Content: "Capital of Zorblia?"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", text)
	// Output:
	// "<|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nCapital of Zorblia?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
}
