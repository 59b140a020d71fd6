package lab

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/report"
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
	tasks, err := WorldTasks(w, []string{world.TaskInject, world.TaskBrackets, world.TaskUpper}, Sizes{Train: 6, Validation: 3, Test: 4})
	if err != nil {
		t.Fatal(err)
	}
	held, err := WorldTasks(w, []string{world.TaskCloze}, Sizes{Train: 4, Validation: 2, Test: 3})
	if err != nil {
		t.Fatal(err)
	}
	prose, err := HeldOutProse(ctx, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	lo := fastslow.DefaultOptions()
	lo.Slow.Steps, lo.FSTSteps, lo.Slow.LR = 20, 6, 1e-2
	res, err := Stream(ctx, StreamOptions{
		Base: m, NewServer: func() fastslow.Server { return fastslow.NewEngineServer(m) }, ServerName: "in-process engine",
		Tasks: tasks, HeldOut: &held[0], Seeds: 2, Learner: lo, Chunk: 10,
		Policies: []fastslow.Policy{fastslow.PolicyFST, fastslow.PolicyWeights, fastslow.PolicyPrompts},
		General:  GeneralProbe(w, 6), Prose: prose,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 6 {
		t.Fatalf("%d runs, want 3 policies x 2 seeds", len(res.Runs))
	}
	for _, run := range res.Runs {
		if len(run.Matrix) != 3 || len(run.Matrix[0]) != 3 {
			t.Fatalf("%s: matrix %v", run.Policy, run.Matrix)
		}
		switch run.Policy {
		case "prompts":
			if sum(run.Steps) != 0 || run.KL != 0 {
				t.Fatalf("prompts policy changed the weights: steps %v, KL %g", run.Steps, run.KL)
			}
		case "weights":
			if sum(run.Steps) != 60 || run.KL <= 0 {
				t.Fatalf("weights policy: steps %v, KL %g", run.Steps, run.KL)
			}
		}
		if len(run.Curves[0]) == 0 {
			t.Fatalf("%s: no learning curve", run.Policy)
		}
	}
	rep, err := res.Report("test", "tiny")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := report.Write(ctx, dir, rep); err != nil {
		t.Fatal(err)
	}
	doc, err := report.ReadJSON(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Re-derive each policy's BWT and forgetting from the matrices in report.json.
	for _, p := range []string{"fst", "weights", "prompts"} {
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
		if got := doc.Values[p+"_bwt"]; math.Abs(got-wantBWT) > 1e-12 {
			t.Errorf("%s: report BWT %g, re-derived %g", p, got, wantBWT)
		}
		if got := doc.Values[p+"_forgetting"]; math.Abs(got-wantF) > 1e-12 {
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
