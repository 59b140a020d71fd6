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
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fastslow/fastslow/adapters/ollama"
	"github.com/fastslow/fastslow/eval/lab"
	"github.com/fastslow/fastslow/eval/pretrain"
	labreport "github.com/fastslow/fastslow/eval/report"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/internal/config"
	"github.com/fastslow/fastslow/models"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
)

// labFlags are the flags of 'fastslow lab' beyond the configuration's.
type labFlags struct {
	seeds, fstSteps, sweepSeeds int
	ablationSeeds, revSeeds     int
	tasks, policies, data       string
	engine, asJSON              bool
	reversibility, ablations    bool
	baselines                   bool
	perTask, noSweep            bool
	cpuProfile                  string
	sweepLRs                    []float64
	sweepSteps                  []int
}

func newLabCmd() *cobra.Command {
	var lf labFlags
	cmd := &cobra.Command{
		Use:   "lab [--model MODEL] [--out DIR] [--seeds N] [--tasks a,b,c | --data FILE.jsonl]",
		Short: "Measure how much each kind of adaptation forgets, on your model",
		Long: `The forgetting lab. It runs every policy (--policies) — fst (prompts first, then a few weight steps within a
forgetting budget), weights (LoRA fine-tuning only), prompts (prompt channel only), replay (weights only, with
examples of earlier tasks replayed) — over the same task stream
for several seeds, and writes a report (report.md with PNG plots, and report.json holding every plotted number):
accuracy matrices, backward transfer and forgetting, learning curves in weight steps, general-ability drift,
KL to the base model and plasticity.

Without --model it uses the embedded default model and the synthetic world it was pretrained on. Adapted
models are served through Ollama when one is reachable (--host, OLLAMA_HOST), else through the in-process
engine, and the report says which. --data replaces the synthetic stream with your JSONL examples, grouped
into tasks by their "task" field.

After the stream, the same report gets the reversibility experiments, each also runnable alone as
'fastslow lab spurious|cyclic|capacity' with flags to scale it up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return lf.run(cmd) },
	}
	lf.register(cmd.Flags())
	for _, e := range labExperiments() {
		cmd.AddCommand(newLabExperimentCmd(e))
	}
	return cmd
}

// register adds the lab's flags, the configuration's among them, to f.
func (lf *labFlags) register(f *pflag.FlagSet) {
	config.AddFlag(f, "model")
	config.AddFlag(f, "out")
	config.AddFlag(f, "budget")
	config.AddFlag(f, "rank")
	config.AddFlag(f, "alpha")
	config.AddFlag(f, "targets")
	config.AddFlag(f, "lr")
	config.AddFlag(f, "batch")
	config.AddFlagAs(f, "steps-per-task", "steps", "weight-only policies: optimizer steps per task")
	f.IntVar(&lf.seeds, "seeds", 10, "seeds per arm (each seed draws its own world, initialization and order)")
	f.IntVar(&lf.sweepSeeds, "sweep-seeds", 1, "seeds per sweep setting (seeds of their own, scored on validation data)")
	f.Float64SliceVar(&lf.sweepLRs, "sweep-lr", []float64{5e-4, 2e-3, 5e-3}, "learning rates the sweep tries for every weight-training arm")
	f.IntSliceVar(&lf.sweepSteps, "sweep-steps", []int{fastslow.DefaultOptions().FSTSteps / 2, fastslow.DefaultOptions().FSTSteps}, "weight steps per task the sweep tries for every weight-training arm (default: half of fst's cap and the cap, the same choice for every arm; --sweep-steps 20,60 is the old grid)")
	f.BoolVar(&lf.noSweep, "no-sweep", false, "no sweep: every arm at the configured --lr and --steps-per-task/--fst-steps")
	f.IntVar(&lf.ablationSeeds, "ablation-seeds", 4, "seeds per ablation arm (at most --seeds)")
	f.IntVar(&lf.revSeeds, "reversibility-seeds", 3, "seeds of each reversibility experiment")
	f.BoolVar(&lf.baselines, "baselines", true, "add the continual-learning baselines (L2 to the base, frozen lower blocks, rank-1 LoRA), swept like every arm (only with the default --policies)")
	f.BoolVar(&lf.ablations, "ablations", true, "add the ablations (prompts × retention gate × replay at fst's chosen setting)")
	f.BoolVar(&lf.perTask, "per-task-prompt", true, "add, for each prompt-using policy, a variant served with each task's own prompt (the task named: an oracle), on --ablation-seeds seeds at its policy's chosen setting")
	f.IntVar(&lf.fstSteps, "fst-steps", fastslow.DefaultOptions().FSTSteps, "fst policy: most optimizer steps per task")
	f.StringVar(&lf.tasks, "tasks", "", "task stream from the synthetic world (default "+strings.Join(lab.DefaultTasks, ",")+")")
	f.StringVar(&lf.policies, "policies", "", "policies to compare (default "+strings.Join(fastslow.PolicyNames(), ",")+")")
	f.StringVar(&lf.data, "data", "", "your own examples (JSONL with a \"task\" field) instead of the synthetic stream")
	f.BoolVar(&lf.engine, "engine", false, "serve with the in-process engine even when Ollama is reachable")
	f.BoolVar(&lf.asJSON, "json", false, "print a JSON summary")
	f.BoolVar(&lf.reversibility, "reversibility", true, "after the stream, run the reversibility experiments (spurious, cyclic, capacity) into the same report")
	f.StringVar(&lf.cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) of the run to this file")
	_ = f.MarkHidden("cpuprofile")
}

// run runs the lab: every arm over the task stream, then the reversibility experiments, into one report.
func (lf *labFlags) run(cmd *cobra.Command) error {
	l, err := conf(cmd)
	if err != nil {
		return err
	}
	if lf.cpuProfile != "" {
		stop, err := startCPUProfile(lf.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx := cmd.Context()
	logf := labLog(cmd)
	path, label, m, wopt, err := labBase(ctx, l)
	if err != nil {
		return err
	}
	w, err := world.New(wopt)
	if err != nil {
		return err
	}
	opt := lf.streamOptions(ctx, l, m, w, wopt, logf)
	if opt.Arms, err = lf.arms(m); err != nil {
		return err
	}
	if opt.Data, err = lf.stream(cmd, w); err != nil {
		return err
	}
	srv, name, err := labServer(ctx, l, m, path, lf.engine, logf)
	if err != nil {
		return err
	}
	opt.NewServer, opt.ServerName = srv, name
	logf("lab: model %s, %s; %d seeds, %d sweep settings, ablations %v", label, name, lf.seeds, len(opt.Sweep), lf.ablations)
	res, err := lab.Stream(ctx, opt)
	if err != nil {
		return err
	}
	rep, err := res.Report("fastslow lab: forgetting under each adaptation policy", label)
	if err != nil {
		return err
	}
	if lf.reversibility {
		if err := appendReversibility(ctx, rep, m, wopt, lf.revSeeds, logf); err != nil {
			return err
		}
	}
	out := l.Out // never empty: the configuration refuses it
	if err := labreport.Write(ctx, out, rep); err != nil {
		return err
	}
	if err := writeRuns(filepath.Join(out, "runs.json"), res); err != nil {
		return err
	}
	return lf.summary(cmd.OutOrStdout(), out, rep, res, name)
}

// streamOptions are the stream's options but its arms, data and server: the learner's settings from the
// configuration, the sweep's grid, and the general-ability probes, retention set and held-out prose of w.
func (lf *labFlags) streamOptions(ctx context.Context, l *config.Loaded, m *weights.Model, w *world.World, wopt world.Options, logf func(string, ...any)) lab.StreamOptions {
	lo := fastslow.DefaultOptions()
	lo.Slow.LoRA = llama.LoRAConfig{Rank: l.Rank, Alpha: float32(l.Alpha), Targets: l.Targets}
	lo.Slow.Steps, lo.Slow.LR, lo.Slow.BatchSize = l.Steps, l.LR, l.Batch
	lo.FSTSteps, lo.Budget = lf.fstSteps, l.Budget
	opt := lab.StreamOptions{Base: m, World: wopt, Seeds: lf.seeds, SweepSeeds: lf.sweepSeeds, Learner: lo, Log: logf, Ablations: lf.ablations, AblationSeeds: lf.ablationSeeds}
	if !lf.noSweep {
		for _, lr := range lf.sweepLRs {
			for _, st := range lf.sweepSteps {
				opt.Sweep = append(opt.Sweep, lab.Setting{LR: lr, Steps: st})
			}
		}
	}
	probes := lab.GeneralProbe(w, 56)
	k := min(16, len(probes)/3) // the last k guard the forgetting budget; the rest are reported
	opt.General, opt.Retention = probes[:len(probes)-k], probes[len(probes)-k:]
	var err error
	if opt.Prose, err = lab.HeldOutProse(ctx, w, 4); err != nil {
		logf("no held-out prose (%v): perplexity and KL are left out", err)
	}
	return opt
}

// arms are the stream's arms: the policies (--policies, default all), then with the default policies the
// baselines (--baselines), then each prompt-using policy served under each task's own prompt (--per-task-prompt).
func (lf *labFlags) arms(m *weights.Model) ([]lab.Arm, error) {
	var pols []fastslow.Policy
	if lf.policies != "" {
		for _, p := range strings.Split(lf.policies, ",") {
			pol, err := fastslow.ParsePolicy(strings.TrimSpace(p))
			if err != nil {
				return nil, usagef("--policies: %v", err)
			}
			pols = append(pols, pol)
		}
	} else {
		pols = fastslow.Policies()
	}
	var arms []lab.Arm
	for _, p := range pols {
		arms = append(arms, lab.Arm{Name: p.Name(), Policy: p})
	}
	if lf.baselines && lf.policies == "" {
		arms = append(arms, lab.Baselines(m.Config.Layers)...)
	}
	if lf.perTask {
		for _, p := range pols {
			if p.Channels().Prompts {
				arms = append(arms, lab.Arm{Name: p.Name() + lab.PerTaskSuffix, Policy: p, PerTaskPrompt: true})
			}
		}
	}
	return arms, nil
}

// stream returns the task stream of each seed: the user's examples grouped by task (--data), else the
// world's tasks (--tasks) with the held-out task for plasticity after them.
func (lf *labFlags) stream(cmd *cobra.Command, w *world.World) (func(seed int) ([]lab.Task, *lab.Task, error), error) {
	if data := lf.data; data != "" {
		ex, err := readExamples(data)
		if err != nil {
			return nil, err
		}
		if ex, err = renderChatFor(cmd, data, ex); err != nil {
			return nil, err
		}
		ts, err := lab.DataTasks(ex, 1, lab.DefaultSizes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", data, err)
		}
		if len(ts) < 2 { // forgetting needs a task learned after another
			return nil, usagef("--data %s: the lab needs at least 2 tasks (the examples' \"task\" field), found %d", data, len(ts))
		}
		return func(seed int) ([]lab.Task, *lab.Task, error) {
			ts, err := lab.DataTasks(ex, uint64(seed), lab.DefaultSizes)
			return ts, nil, err
		}, nil
	}
	names := lab.DefaultTasks
	if lf.tasks != "" {
		names = strings.Split(lf.tasks, ",")
	}
	if _, err := lab.WorldTasks(w, names, lab.DefaultSizes, 1); err != nil {
		return nil, usagef("--tasks: %v", err) // the error names the known tasks
	}
	inStream := false
	for _, n := range names {
		inStream = inStream || n == lab.DefaultHeldOut
	}
	return func(seed int) ([]lab.Task, *lab.Task, error) {
		all := names
		if !inStream {
			all = append(append([]string(nil), names...), lab.DefaultHeldOut)
		}
		ts, err := lab.WorldTasks(w, all, lab.DefaultSizes, uint64(seed))
		if err != nil || inStream {
			return ts, nil, err
		}
		return ts[:len(names)], &ts[len(names)], nil
	}, nil
}

// summary prints where the report went and its verdicts, or with --json the report's values.
func (lf *labFlags) summary(w io.Writer, out string, rep *labreport.Report, res *lab.StreamResult, server string) error {
	if lf.asJSON {
		return json.NewEncoder(w).Encode(map[string]any{"report": filepath.Join(out, "report.md"), "values": rep.Values, "seconds": res.Seconds, "server": server})
	}
	fmt.Fprintf(w, "wrote %s (%.0f s, %s)\n", filepath.Join(out, "report.md"), res.Seconds, server)
	for _, v := range rep.Verdicts {
		fmt.Fprintf(w, "  %s %s — %s\n", v.Question, v.Verdict, v.Evidence)
	}
	return nil
}

// startCPUProfile profiles the process into path until the returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
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
func labServer(ctx context.Context, l *config.Loaded, m *weights.Model, path string, engine bool, logf func(string, ...any)) (func() fastslow.Server, string, error) {
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

// The reversibility experiments (eval/lab: spurious, cyclic, capacity). Each runs alone as `fastslow lab
// <name>` and, with its defaults, inside plain `fastslow lab` after the stream experiment, in the same report.
// They train and probe weights in the in-process engine: they measure what the weights hold, not serving.

// labSetup loads the configured model (or the embedded default) and the world it was pretrained on.
func labSetup(cmd *cobra.Command) (m *weights.Model, label string, wopt world.Options, logf func(string, ...any), err error) {
	l, err := conf(cmd)
	if err != nil {
		return nil, "", wopt, nil, err
	}
	logf = labLog(cmd)
	if _, label, m, wopt, err = labBase(cmd.Context(), l); err != nil {
		return nil, "", wopt, nil, err
	}
	return m, label, wopt, logf, nil
}

// labLog returns the lab's log: each line timed, on the command's standard error.
func labLog(cmd *cobra.Command) func(string, ...any) {
	logw := cmd.ErrOrStderr()
	return func(format string, args ...any) {
		fmt.Fprintf(logw, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// labBase loads the configured model (or the embedded default) and returns it with its file, its label and the
// options of the world it was pretrained on (seed 1's world when its file holds no recipe).
func labBase(ctx context.Context, l *config.Loaded) (path, label string, m *weights.Model, wopt world.Options, err error) {
	if path, label, err = labModel(ctx, l); err != nil {
		return "", "", nil, wopt, err
	}
	if m, err = weights.Load(path); err != nil {
		return "", "", nil, wopt, err
	}
	wopt = world.Options{Seed: 1}
	if r, err := recipeOf(path); err == nil {
		wopt = r.World.Options()
	}
	return path, label, m, wopt, nil
}

// labExperiment is one reversibility experiment as the command line runs it.
type labExperiment struct {
	name, short, long, title string
	flags                    func(f *pflag.FlagSet)
	// run measures and returns the report sections and verdict rows; seeds 0 takes the default.
	run func(ctx context.Context, m *weights.Model, wopt world.Options, seeds int, logf func(string, ...any)) ([]labreport.Section, []labreport.Verdict, float64, error)
}

func labExperiments() []*labExperiment {
	var sp lab.SpuriousOptions
	var cy lab.CyclicOptions
	var ca lab.CapacityOptions
	var sizes, modes string
	var rank int
	return []*labExperiment{
		{
			name: "spurious", title: "fastslow lab spurious: is forgetting after adaptation reversible?",
			short: "Spurious forgetting: does a forgotten task come back after brief retraining on other data?",
			long: `Task A is knowledge from pretraining (facts of people the model met in its pretraining biographies; --task-a new
learns facts of new people into a LoRA adapter first). Learns task B (another answer format) into a LoRA adapter,
measures how far A fell, retrains briefly on data unrelated to both (facts of new people) and measures A after
every recovery step (Zheng et al., ICLR 2025). A Fisher exact test asks whether the probe predicts which facts
come back. A likelihood probe asks whether the right value of each forgotten fact is still ranked above other values
of its attribute. A second variant freezes the lower blocks while B is learned.`,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&sp.TaskA, "task-a", "", "task A: known (facts from pretraining, nothing trained) or new (facts of new people, learned first) (default known)")
				f.IntVar(&sp.People, "people", 0, "people whose facts form task A, and task B with --task-b people (default 8)")
				f.StringVar(&sp.TaskB, "task-b", "", "task B: brackets, upper (another answer format) or people (default brackets)")
				f.StringVar(&sp.Recovery, "recovery", "", "recovery data: new (facts of people in neither task), half (of A's people, measuring the other half) or known (pretraining questions) (default new)")
				f.IntVar(&sp.RecoveryExamples, "recovery-examples", 0, "recovery examples (default 16)")
				f.IntVar(&sp.RecoverySteps, "recovery-steps", 0, "recovery optimizer steps (default 20)")
				f.IntVar(&sp.Freeze, "freeze", 0, "lower blocks frozen during task B in the second variant (default half the blocks; -1: no such variant)")
			},
			run: func(ctx context.Context, m *weights.Model, wopt world.Options, seeds int, logf func(string, ...any)) ([]labreport.Section, []labreport.Verdict, float64, error) {
				o := sp
				o.Base, o.World, o.Seeds, o.Log = m, wopt, seeds, logf
				res, err := lab.Spurious(ctx, o)
				if err != nil {
					return nil, nil, 0, err
				}
				secs, vs, err := res.Sections()
				return secs, vs, res.Seconds, err
			},
		},
		{
			name: "cyclic", title: "fastslow lab cyclic: anticipatory recovery under cyclic training",
			short: "Anticipatory recovery: does a document's loss fall before it comes round again?",
			long: `Trains documents in a fixed cyclic order for several epochs, a few gradient steps on each, measures the loss on
every document after every step, and compares the loss just before a document comes round again with the same
documents in a shuffled order (Yang et al., NeurIPS 2024). Plots the loss matrices.`,
			flags: func(f *pflag.FlagSet) {
				f.IntVar(&cy.Docs, "docs", 0, "documents (default 8)")
				f.IntVar(&cy.Epochs, "epochs", 0, "epochs, at least 3 (default 5)")
				f.IntVar(&cy.StepsPerDoc, "steps-per-doc", 0, "gradient steps on a document at each visit (default 2)")
				f.StringVar(&cy.Mode, "mode", "", "full or lora (default full)")
			},
			run: func(ctx context.Context, m *weights.Model, wopt world.Options, seeds int, logf func(string, ...any)) ([]labreport.Section, []labreport.Verdict, float64, error) {
				o := cy
				o.Base, o.World, o.Seeds, o.Log = m, wopt, seeds, logf
				res, err := lab.Cyclic(ctx, o)
				if err != nil {
					return nil, nil, 0, err
				}
				secs, vs, err := res.Sections()
				return secs, vs, res.Seconds, err
			},
		},
		{
			name: "capacity", title: "fastslow lab capacity: facts in the weights against facts as notes",
			short: "Capacity: how many new facts fit in the weights, against notes retrieved into context?",
			long: `Learns N new facts into the weights (a LoRA adapter, and full fine-tuning) for growing N, against the same facts
kept as notes in a prompt store and retrieved into the context (Allen-Zhu and Li, Physics of Language Models 3.3):
recall and general-ability change against N, and the knee where in-weight recall falls.`,
			flags: func(f *pflag.FlagSet) {
				f.StringVar(&sizes, "sizes", "", "numbers of facts, comma-separated (default 10,40,160)")
				f.StringVar(&modes, "modes", "", "modes compared: lora, full, notes (default all three)")
				f.IntVar(&ca.Epochs, "epochs", 0, "passes over the facts (default 8)")
				f.IntVar(&ca.Notes, "notes", 0, "notes retrieved into each question's context (default 1)")
				f.IntVar(&rank, "rank", 0, "LoRA rank, alpha twice the rank (default 8, the slow channel's adapter)")
			},
			run: func(ctx context.Context, m *weights.Model, wopt world.Options, seeds int, logf func(string, ...any)) ([]labreport.Section, []labreport.Verdict, float64, error) {
				o := ca
				o.Base, o.World, o.Seeds, o.Log = m, wopt, seeds, logf
				for _, s := range splitList(sizes) {
					n, err := strconv.Atoi(s)
					if err != nil {
						return nil, nil, 0, usagef("--sizes: %q is not a number", s)
					}
					o.Sizes = append(o.Sizes, n)
				}
				o.Modes = splitList(modes)
				if rank > 0 {
					o.LoRA = weights.DefaultLoRA
					o.LoRA.Rank, o.LoRA.Alpha = rank, float32(2*rank)
				}
				res, err := lab.Capacity(ctx, o)
				if err != nil {
					return nil, nil, 0, err
				}
				secs, vs, err := res.Sections()
				return secs, vs, res.Seconds, err
			},
		},
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// newLabExperimentCmd makes `fastslow lab <name>`: the experiment alone, in its own report.
func newLabExperimentCmd(e *labExperiment) *cobra.Command {
	var seeds int
	var asJSON bool
	cmd := &cobra.Command{
		Use: e.name, Short: e.short, Long: e.long, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, label, wopt, logf, err := labSetup(cmd)
			if err != nil {
				return err
			}
			l, err := conf(cmd)
			if err != nil {
				return err
			}
			secs, verdicts, seconds, err := e.run(cmd.Context(), m, wopt, seeds, logf)
			if err != nil {
				return err
			}
			rep := &labreport.Report{
				Title: e.title, Values: secs[0].Values, Sections: secs, Verdicts: verdicts,
				Summary: fmt.Sprintf("Model **%s**, trained and measured in the in-process engine (the experiment probes weights, not serving). The run took %.0f s.", label, seconds),
			}
			out := l.Out // never empty: the configuration refuses it
			if !cmd.Flags().Changed("out") {
				out = filepath.Join(out, e.name) // its own directory, never the stream report's
			}
			if err := labreport.Write(cmd.Context(), out, rep); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return json.NewEncoder(w).Encode(map[string]any{"report": filepath.Join(out, "report.md"), "values": rep.Values, "seconds": seconds, "server": "the in-process engine"})
			}
			fmt.Fprintf(w, "wrote %s (%.0f s, the in-process engine)\n", filepath.Join(out, "report.md"), seconds)
			for _, v := range rep.Verdicts {
				fmt.Fprintf(w, "  %s %s — %s\n", v.Question, v.Verdict, v.Evidence)
			}
			return nil
		},
	}
	f := cmd.Flags()
	config.AddFlag(f, "model")
	config.AddFlag(f, "out")
	f.IntVar(&seeds, "seeds", 3, "seeds")
	f.BoolVar(&asJSON, "json", false, "print a JSON summary")
	e.flags(f)
	return cmd
}

// appendReversibility runs every reversibility experiment with its defaults and adds its sections and verdict
// rows to rep, the stream experiment's report.
func appendReversibility(ctx context.Context, rep *labreport.Report, m *weights.Model, wopt world.Options, seeds int, logf func(string, ...any)) error {
	total := 0.0
	var names []string
	for _, e := range labExperiments() {
		logf("lab: %s", e.name)
		secs, verdicts, seconds, err := e.run(ctx, m, wopt, seeds, logf)
		if err != nil {
			return fmt.Errorf("lab %s: %w", e.name, err)
		}
		rep.Sections = append(rep.Sections, secs...)
		rep.Verdicts = append(rep.Verdicts, verdicts...)
		total += seconds
		names = append(names, e.name)
	}
	rep.Summary += fmt.Sprintf("\n\nThe reversibility experiments (%s) train and probe weights in the in-process engine, whatever serves the "+
		"stream; they took %.0f s.", strings.Join(names, ", "), total)
	return nil
}
