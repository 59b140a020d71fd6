package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/lab"
	"github.com/fastslow/fastslow/eval/pretrain"
	labreport "github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/models"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/atomicfile"
	"github.com/fastslow/fastslow/weights/gguf"
)

// defaultReportDir is where `fastslow lab` writes its report unless --out says otherwise.
const defaultReportDir = "fastslow-report"

func newLabCmd() *cobra.Command {
	var (
		seeds, stepsPerTask, fstSteps int
		lr                            float64
		tasks, policies, data         string
		engine, asJSON                bool
	)
	cmd := &cobra.Command{
		Use:   "lab [--model MODEL] [--out DIR] [--seeds N] [--tasks a,b,c | --data FILE.jsonl]",
		Short: "Measure how much each kind of adaptation forgets, on your model",
		Long: `The forgetting lab. It runs the three policies — fst (prompts first, then a few weight steps within a
forgetting budget), weights (LoRA fine-tuning only) and prompts (prompt channel only) — over the same task stream
for several seeds, and writes a report (report.md with PNG plots, and report.json holding every plotted number):
accuracy matrices, backward transfer and forgetting, learning curves in weight steps, general-ability drift,
KL to the base model and plasticity.

Without --model it uses the embedded default model and the synthetic world it was pretrained on. Adapted
models are served through Ollama when one is reachable (--host, OLLAMA_HOST), else through the in-process
engine, and the report says which. --data replaces the synthetic stream with your JSONL examples, grouped
into tasks by their "task" field.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			logw := cmd.ErrOrStderr()
			logf := func(format string, args ...any) {
				fmt.Fprintf(logw, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
			}
			path, label, err := labModel(ctx, l)
			if err != nil {
				return err
			}
			m, err := weights.Load(path)
			if err != nil {
				return err
			}
			wopt := world.Options{Seed: 1}
			if r, err := recipeOf(path); err == nil {
				wopt = r.World.Options()
			}
			w, err := world.New(wopt)
			if err != nil {
				return err
			}
			opt := lab.StreamOptions{
				Base: m, World: wopt, Seeds: seeds, Steps: stepsPerTask, FSTSteps: fstSteps, Budget: l.Budget,
				LR: lr, BatchSize: l.Batch, Log: logf,
			}
			probes := lab.GeneralProbe(w, 56)
			k := min(16, len(probes)/3) // the last k guard FST's budget; the rest are reported
			opt.General, opt.Retention = probes[:len(probes)-k], probes[len(probes)-k:]
			if opt.Prose, err = lab.HeldOutProse(ctx, w, 4); err != nil {
				logf("no held-out prose (%v): perplexity and KL are left out", err)
			}
			if policies != "" {
				for _, p := range strings.Split(policies, ",") {
					pol, err := fastslow.ParsePolicy(strings.TrimSpace(p))
					if err != nil {
						return usagef("--policies: %v", err)
					}
					opt.Policies = append(opt.Policies, pol)
				}
			}
			if data != "" {
				ex, err := readExamples(data)
				if err != nil {
					return err
				}
				if opt.Tasks, err = lab.DataTasks(ex, 1, lab.DefaultSizes); err != nil {
					return fmt.Errorf("%s: %w", data, err)
				}
			} else {
				names := lab.DefaultTasks
				if tasks != "" {
					names = strings.Split(tasks, ",")
				}
				if opt.Tasks, err = lab.WorldTasks(w, names, lab.DefaultSizes); err != nil {
					return usagef("--tasks: %v (known: %s)", err, strings.Join(world.TaskNames(), ", "))
				}
				inStream := false
				for _, n := range names {
					inStream = inStream || n == lab.DefaultHeldOut
				}
				if !inStream {
					held, err := lab.WorldTasks(w, []string{lab.DefaultHeldOut}, lab.DefaultSizes)
					if err != nil {
						return err
					}
					opt.HeldOut = &held[0]
				}
			}
			srv, name, err := labServer(ctx, l, path, engine, logf)
			if err != nil {
				return err
			}
			opt.NewServer, opt.ServerName = srv, name
			logf("lab: model %s, %s; stream %s; %d seeds", label, name, taskNames(opt.Tasks), max(seeds, 1))
			res, err := lab.Stream(ctx, opt)
			if err != nil {
				return err
			}
			rep, err := res.Report("fastslow lab: forgetting under three adaptation policies", label)
			if err != nil {
				return err
			}
			out := l.Out
			if out == "" {
				out = defaultReportDir
			}
			if err := labreport.Write(ctx, out, rep); err != nil {
				return err
			}
			if err := writeRuns(filepath.Join(out, "runs.json"), res); err != nil {
				return err
			}
			w2 := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w2).Encode(map[string]any{"report": filepath.Join(out, "report.md"), "values": rep.Values, "seconds": res.Seconds, "server": name})
			}
			fmt.Fprintf(w2, "wrote %s (%.0f s, %s)\n", filepath.Join(out, "report.md"), res.Seconds, name)
			for _, v := range rep.Verdicts {
				fmt.Fprintf(w2, "  %s %s — %s\n", v.Question, v.Verdict, v.Evidence)
			}
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlag(f, "model")
	config.AddFlag(f, "out")
	config.AddFlag(f, "budget")
	f.IntVar(&seeds, "seeds", 3, "seeds per policy")
	f.IntVar(&stepsPerTask, "steps-per-task", 60, "weight-only policy: optimizer steps per task")
	f.IntVar(&fstSteps, "fst-steps", 20, "fst policy: most optimizer steps per task")
	f.Float64Var(&lr, "lr", 5e-3, "learning rate of the lab's weight rounds")
	f.StringVar(&tasks, "tasks", "", "task stream from the synthetic world (default "+strings.Join(lab.DefaultTasks, ",")+")")
	f.StringVar(&policies, "policies", "", "policies to compare (default fst,weights,prompts)")
	f.StringVar(&data, "data", "", "your own examples (JSONL with a \"task\" field) instead of the synthetic stream")
	f.BoolVar(&engine, "engine", false, "serve with the in-process engine even when Ollama is reachable")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary")
	return cmd
}

func taskNames(ts []lab.Task) string {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	return strings.Join(names, " → ")
}

// labModel returns the GGUF file to run: the configured model, or the embedded default written once into the
// home directory (Ollama needs a file to upload).
func labModel(ctx context.Context, l *config.Loaded) (path, label string, err error) {
	if path, err = modelPath(ctx, l); err != nil || path != "" {
		return path, l.Model, err
	}
	data, err := models.Default()
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	path = filepath.Join(l.Home, "models", "default-"+hex.EncodeToString(sum[:6])+".gguf")
	if _, err := os.Stat(path); err == nil {
		return path, "the embedded default (" + models.DefaultName + ")", nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", "", err
	}
	if err := models.WriteDefault(path); err != nil {
		return "", "", err
	}
	return path, "the embedded default (" + models.DefaultName + ")", nil
}

// recipeOf reads the pretraining recipe recorded in a model built by fastslow pretrain.
func recipeOf(path string) (pretrain.Recipe, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return pretrain.Recipe{}, err
	}
	defer f.Close()
	return pretrain.ReadRecipe(f)
}

// labServer picks Ollama when it answers, else the in-process engine, and says so.
func labServer(ctx context.Context, l *config.Loaded, path string, engine bool, logf func(string, ...any)) (func() fastslow.Server, string, error) {
	m, err := weights.Load(path)
	if err != nil {
		return nil, "", err
	}
	inProcess := func() fastslow.Server { return fastslow.NewEngineServer(m) }
	if engine {
		return inProcess, "the in-process engine", nil
	}
	c, err := client(l)
	if err != nil {
		return nil, "", err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		if !errors.Is(err, ollama.ErrUnreachable) && ctx.Err() == nil {
			logf("ollama check failed: %v", err)
		}
		logf("no Ollama reachable at %s: running on the in-process engine", c.Host())
		return inProcess, "the in-process engine (no Ollama reachable at " + c.Host() + ")", nil
	}
	srv := fastslow.NewOllamaServer(c, path, "")
	if _, err := srv.BaseModel(ctx); err != nil {
		return nil, "", err
	}
	return func() fastslow.Server { return srv }, "Ollama at " + c.Host(), nil
}

// writeRuns saves every run's raw measurements next to the report, atomically.
func writeRuns(path string, res *lab.StreamResult) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { return writeJSON(w, res) })
}
