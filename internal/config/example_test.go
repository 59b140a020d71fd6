package config_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/fastslow/fastslow/internal/config"
)

func ExampleLoad() {
	// The program installs its packages' defaults once (cmd/fastslow takes them from the learner and the
	// Ollama client).
	config.SetDefaults(config.Owned{
		Defaults: config.Config{Policy: "fst", Rank: 8, Steps: 60, LR: 5e-3, Batch: 8, Budget: 0.05, NumCtx: 512, Host: "127.0.0.1:11434",
			Targets: []string{"attn_q", "attn_v"}, Deploy: "auto", MergedType: "same", Keep: 3},
		Policies:    []string{"fst", "weights", "prompts"},
		DeployModes: []string{"auto", "adapter", "merged"},
		MergedTypes: []string{"same", "f16", "f32"},
	})
	dir, err := os.MkdirTemp("", "fastslow-config-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "fastslow.yaml")
	if err := os.WriteFile(file, []byte("rank: 4\nsteps: 50\n"), 0o644); err != nil {
		log.Fatal(err)
	}

	// A command defines flags for the keys it uses; a flag given on the command line wins over the file.
	flags := pflag.NewFlagSet("train", pflag.ContinueOnError)
	config.AddFlag(flags, "steps")
	config.AddFlag(flags, "rank")
	if err := flags.Parse([]string{"--steps", "20"}); err != nil {
		log.Fatal(err)
	}

	l, err := config.Load(config.Options{File: file, Flags: flags})
	if err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"rank", "steps", "policy"} {
		src := l.Source(key)
		if src.Kind == config.FromFile {
			src.Path = filepath.Base(src.Path) // the temporary directory differs from run to run
		}
		fmt.Printf("%s from %s\n", key, src)
	}
	fmt.Println(l.Rank, l.Steps, l.Policy)
	// Output:
	// rank from file:fastslow.yaml
	// steps from flag:--steps
	// policy from default
	// 4 20 fst
}
