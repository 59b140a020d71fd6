package peft_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/weights/peft"
)

// Import a PEFT adapter trained with PyTorch onto its base model and export it back.
func Example() {
	f, err := hffixture.Load("llama") // a tiny base model and the PEFT adapter PyTorch wrote for it
	if err != nil {
		log.Fatal(err)
	}
	a, format, err := peft.Import(f.AdapterDir, f.Model)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(format, a.Config.Rank, a.Scale(), a.Config.Targets)

	dir, err := os.MkdirTemp("", "peft-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := peft.Save(filepath.Join(dir, "adapter"), a, f.Model, peft.SaveOptions{BaseModel: "tiny-llama"}); err != nil {
		log.Fatal(err)
	}
	_, cfg, err := peft.Load(filepath.Join(dir, "adapter"), f.Model)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.R, cfg.LoraAlpha, cfg.UseRSLoRA, cfg.TargetModules.List)
	// Output:
	// peft 8 2 [attn_q attn_k attn_v attn_output ffn_gate ffn_up ffn_down]
	// 8 16 false [q_proj k_proj v_proj o_proj gate_proj up_proj down_proj]
}
