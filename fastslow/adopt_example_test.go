package fastslow_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/peft"
)

// Adopt a LoRA adapter trained with PEFT: import it for the base, then let the slow channel judge it by the
// forgetting budget and deploy it as a new version.
func ExampleSlowChannel_Adopt() {
	ctx := context.Background()
	f, err := hffixture.Load("llama") // a tiny base and the PEFT adapter PyTorch wrote for it
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tinymodel.Tokenizer(ctx, f.Model.Config.Vocab)
	if err != nil {
		log.Fatal(err)
	}
	base := &weights.Model{Model: f.Model, Tokenizer: tok}
	dir, err := os.MkdirTemp("", "adopt-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	slow, err := fastslow.OpenSlowChannel(ctx, base, dir, "example", fastslow.NewEngineServer(base))
	if err != nil {
		log.Fatal(err)
	}
	a, format, err := peft.Import(f.AdapterDir, base.Model)
	if err != nil {
		log.Fatal(err)
	}
	keep := []fastslow.Example{{Prompt: "The quick brown", Completion: " fox"}}
	r, err := slow.Adopt(ctx, fastslow.Adoption{
		Task: "demo", Note: "imported " + string(format), Adapter: a,
		Retention: fastslow.EngineScore(base, keep, 4), Budget: 0.05,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Promoted, r.Version.Seq, r.Version.Note)
	// Output: true 1 imported peft
}
