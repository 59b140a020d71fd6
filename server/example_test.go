package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/server"
)

// An Ollama client asks the task "people" a question, gets a wrong answer with its id, sends the right answer
// as feedback on that id, and asks again. The learner here runs the embedded model in-process; `fastslow
// serve` serves through Ollama and passes other models through to it (Config.Ollama).
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fastslow-server-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	learner, err := fastslow.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer learner.Close()
	s, err := server.New(server.Config{Learner: learner})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()

	post := func(path, body string, v any) {
		resp, err := http.Post(hs.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			log.Fatal(err)
		}
	}
	var answer struct {
		Response   string `json:"response"`
		FastslowID string `json:"fastslow_id"`
	}
	ask := `{"model":"fastslow/people","prompt":"Q: Where was Damira Thalstone born?\nA:","stream":false}`
	post("/api/generate", ask, &answer)
	fmt.Println("before:", strings.TrimSpace(answer.Response))

	var fb server.FeedbackResponse
	post("/fastslow/feedback", `{"id":"`+answer.FastslowID+`","score":0,"answer":"Wystmere"}`, &fb)
	fmt.Println("feedback stored for task", fb.Task)

	post("/api/generate", ask, &answer)
	fmt.Println("after:", strings.TrimSpace(answer.Response))
	// Output:
	// before: Amberlee
	// feedback stored for task people
	// after: Wystmere
}
