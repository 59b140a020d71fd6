package lab

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/fastslow"
	"github.com/fastslow/fastslow/internal/tinymodel"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/gguf"
)

// TestStreamReport runs the stream experiment end to end on a tiny model with the in-process engine, writes the
// report, and re-derives BWT and forgetting from the accuracy matrices saved in report.json.
func TestStreamReport(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if _, _, err := tinymodel.Write(ctx, path, 5, 0.05, gguf.TypeF32); err != nil {
		t.Fatal(err)
	}
	m, err := weights.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := world.New(world.Options{Seed: 1, Known: 20, Newcomers: 10})
	if err != nil {
		t.Fatal(err)
	}
	prose, err := HeldOutProse(ctx, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Every test question carries a marker: the audit proves none reaches learning (prompt search and
	// promotion through the server), the prompt store (what every served prompt, weight-training pair and
	// gate check is rendered from), the sweep, a baseline or an ablation.
	const marker = " (zqxtest)"
	data := func(seed int) ([]Task, *Task, error) {
		tasks, err := WorldTasks(w, []string{world.TaskInject, world.TaskBrackets, world.TaskUpper}, Sizes{Train: 6, Validation: 3, Test: 4}, uint64(seed))
		if err != nil {
			return nil, nil, err
		}
		held, err := WorldTasks(w, []string{world.TaskCloze}, Sizes{Train: 4, Validation: 2, Test: 3}, uint64(seed))
		if err != nil {
			return nil, nil, err
		}
		for _, ts := range [][]Task{tasks, held} {
			for i := range ts {
				test := append([]fastslow.Example(nil), ts[i].Test...)
				for j := range test {
					test[j].Prompt += marker
				}
				ts[i].Test = test
			}
		}
		return tasks, &held[0], nil
	}
	var leaks []string
	tested, stored := 0, 0
	audit := func(stage, text string) {
		if stage == "store" {
			stored++
		}
		if !strings.Contains(text, marker) {
			return
		}
		if stage != "test" {
			leaks = append(leaks, stage+": "+text)
		} else {
			tested++
		}
	}
	lo := fastslow.DefaultOptions()
	lo.Slow.Steps, lo.FSTSteps, lo.Slow.LR = 20, 6, 1e-2
	res, err := Stream(ctx, StreamOptions{
		Base: m, NewServer: func() fastslow.Server { return fastslow.NewEngineServer(m) }, ServerName: "in-process engine",
		Data: data, Seeds: 2, Learner: lo, Chunk: 10,
		Arms: []Arm{{Name: "fst", Policy: fastslow.PolicyFST}, {Name: "weights", Policy: fastslow.PolicyWeights}, {Name: "prompts", Policy: fastslow.PolicyPrompts},
			Baselines(m.Config.Layers)[0], {Name: "fst" + PerTaskSuffix, Policy: fastslow.PolicyFST, PerTaskPrompt: true}},
		Sweep: []Setting{{LR: 1e-2, Steps: 6}, {LR: 1e-3, Steps: 20}}, SweepSeeds: 1,
		Ablations: true, AblationSeeds: 1,
		General: GeneralProbe(w, 6), Retention: GeneralProbe(w, 9)[6:], Prose: prose, Audit: audit,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) > 0 {
		t.Fatalf("%d test questions reached learning, the prompt store or the sweep; first: %s", len(leaks), leaks[0])
	}
	if tested == 0 || stored == 0 {
		t.Fatalf("the audit saw %d test questions and %d prompt stores", tested, stored)
	}
	// 4 arms × 2 seeds, the per-task variant and the 8 ablations on the ablation seed; the per-task variant is
	// not swept.
	if len(res.Runs) != 4*2+1+8 || len(res.SweepRuns) != 3*2 {
		t.Fatalf("%d runs, %d sweep runs; want 4 arms x 2 seeds + 9 on one seed, and 3 weight arms x 2 settings", len(res.Runs), len(res.SweepRuns))
	}
	if c, ok := res.Chosen["fst"]; !ok || res.Chosen["fst"+PerTaskSuffix] != (Setting{}) {
		t.Fatalf("chosen settings %v", res.Chosen)
	} else {
		for _, run := range res.Runs {
			if run.Policy == "fst"+PerTaskSuffix && (run.LR != c.LR || run.Steps != c.Steps) {
				t.Fatalf("per-task variant ran at lr %g steps %d, fst's chosen setting is %+v", run.LR, run.Steps, c)
			}
		}
	}
	for _, run := range res.SweepRuns {
		if run.Split != "validation" || run.Seed < 1000 {
			t.Fatalf("sweep run on %s, seed %d", run.Split, run.Seed)
		}
	}
	for arm, c := range res.Chosen {
		for _, run := range res.Runs {
			if run.Policy == arm && (run.LR != c.LR || run.Steps != c.Steps) {
				t.Fatalf("%s ran at lr %g steps %d, the sweep chose %+v", arm, run.LR, run.Steps, c)
			}
		}
	}
	for _, run := range res.Runs {
		if len(run.Matrix) != 3 || len(run.Matrix[0]) != 3 {
			t.Fatalf("%s: matrix %v", run.Policy, run.Matrix)
		}
		switch run.Policy {
		case "prompts":
			if sum(run.WeightSteps) != 0 || run.KL != 0 {
				t.Fatalf("prompts policy changed the weights: steps %v, KL %g", run.WeightSteps, run.KL)
			}
			if run.Generations == 0 {
				t.Fatal("prompts policy: no generations counted")
			}
		case "weights":
			if sum(run.WeightSteps) != 3*run.Steps || run.KL <= 0 || run.Generations != 0 || run.GateGenerations != 0 {
				t.Fatalf("weights policy: steps %v (budget %d), KL %g, %d generations, %d by the gate", run.WeightSteps, run.Steps, run.KL, run.Generations, run.GateGenerations)
			}
		case "fst":
			// Its gate checks the pretraining-fact retention set (9−6 = 3) before and after every chunk.
			if run.GateGenerations < 3 || run.CachedGenerations > run.Generations {
				t.Fatalf("fst: %d gate generations, %d of %d generations cached", run.GateGenerations, run.CachedGenerations, run.Generations)
			}
		}
		if len(run.Curves[0]) == 0 {
			t.Fatalf("%s: no learning curve", run.Policy)
		}
		// The channel split: for the arms with both channels, its total is the matrix's own drop.
		both := run.Policy == "fst" || run.Policy == "fst"+PerTaskSuffix
		if both != (run.Channels != nil) {
			t.Fatalf("%s: channel split %+v", run.Policy, run.Channels)
		}
		if c := run.Channels; c != nil {
			total := 0.0
			for i := range len(run.Matrix) - 1 {
				total += (run.Matrix[i][i] - run.Matrix[len(run.Matrix)-1][i]) / float64(len(run.Matrix)-1)
			}
			if math.Abs(c.Total-total) > 1e-9 {
				t.Fatalf("%s: channel split total %g, matrix drop %g", run.Policy, c.Total, total)
			}
			if run.Policy == "fst"+PerTaskSuffix && c.Prompt != 0 {
				t.Fatalf("per-task prompt: a task's prompt changed after its round (prompt-channel drop %g)", c.Prompt)
			}
		}
	}
	// Seeds vary the world: the two seeds' inject tasks teach different people.
	a, _, _ := data(1)
	b, _, _ := data(2)
	if a[0].Test[0].Prompt == b[0].Test[0].Prompt && a[0].Train[0].Prompt == b[0].Train[0].Prompt {
		t.Fatal("seeds 1 and 2 drew the same inject task")
	}
	doc := writtenReport(ctx, t, res, "test")
	// Re-derive each policy's BWT and forgetting from the matrices in report.json.
	for _, p := range []string{"fst", "weights", "prompts"} {
		if _, ok := doc.Values[p+"_average_accuracy_lo"]; !ok {
			t.Errorf("%s: no interval for average accuracy", p)
		}
		var mats []metrics.Matrix
		for _, run := range res.Runs {
			if run.Policy == p {
				mats = append(mats, run.Matrix)
			}
		}
		var bwts, fs []float64
		for _, R := range mats {
			b, _ := metrics.BWT(R)
			f, _ := metrics.AverageForgetting(R)
			bwts, fs = append(bwts, b), append(fs, f)
		}
		wantBWT, _ := metrics.Mean(bwts)
		wantF, _ := metrics.Mean(fs)
		if got := doc.Values[p+"_bwt"]; math.Abs(got-wantBWT) > 1e-9 {
			t.Errorf("%s: report BWT %g, re-derived %g", p, got, wantBWT)
		}
		if got := doc.Values[p+"_forgetting"]; math.Abs(got-wantF) > 1e-9 {
			t.Errorf("%s: report forgetting %g, re-derived %g", p, got, wantF)
		}
		heat, ok := doc.Plots["acc-"+p+"-matrix"]
		if !ok || heat.Heatmap == nil {
			t.Fatalf("no heatmap for %s in report.json (plots: %v)", p, keys(doc.Plots))
		}
		mean, _, _ := metrics.MeanMatrix(mats)
		for k := range mean {
			for i := range mean[k] {
				if math.Abs(heat.Heatmap.Values[k][i]-mean[k][i]) > 1e-12 {
					t.Fatalf("%s heatmap[%d][%d] = %g, mean matrix %g", p, k, i, heat.Heatmap.Values[k][i], mean[k][i])
				}
			}
		}
	}
	if _, ok := doc.Plots["learning-curves"]; !ok {
		t.Fatal("no learning curves in report.json")
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
