package train

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/weights/llama"
)

// baseOptions are the options of most tests: every feature of the schedule and optimizer on.
func baseOptions() Options {
	return Options{
		Steps: 24, BatchSize: 4, LR: 0.05, Warmup: 3, Decay: DecayCosine, MinLR: 0.005,
		WeightDecay: 0.01, ClipNorm: 1, Seed: 7,
	}
}

func TestRunLearnsAndIsReproducible(t *testing.T) {
	data := markovData(40, 8, 1)
	opt := baseOptions()
	opt.Steps = 60
	var runs [2]struct {
		res    Result
		params [][]float32
	}
	for i := range runs {
		obj := newBigram(8, 3)
		var steps []Progress
		res, err := Run(context.Background(), obj, data, opt, func(p Progress) { steps = append(steps, p) })
		if err != nil {
			t.Fatal(err)
		}
		if res.Steps != 60 || res.Total != 60 || len(res.Losses) != 60 || res.ResumedFrom != 0 {
			t.Fatalf("result %+v", res)
		}
		if len(steps) != 60 {
			t.Fatalf("progress called %d times", len(steps))
		}
		var tokens int64
		for j, p := range steps {
			if p.Step != j+1 || p.Total != 60 || p.Loss != res.Losses[j] || p.LR != LearningRate(opt, j, 60) ||
				!(p.GradNorm > 0) || p.Tokens <= 0 || !(p.TokensPerSec > 0) {
				t.Fatalf("progress %d: %+v", j, p)
			}
			tokens += int64(p.Tokens)
		}
		if tokens != res.Tokens {
			t.Errorf("Result.Tokens = %d, progress summed %d", res.Tokens, tokens)
		}
		runs[i].res, runs[i].params = res, snapshot(obj)
	}
	for j := range runs[0].res.Losses {
		if math.Float64bits(runs[0].res.Losses[j]) != math.Float64bits(runs[1].res.Losses[j]) {
			t.Fatalf("step %d: loss %v then %v", j+1, runs[0].res.Losses[j], runs[1].res.Losses[j])
		}
	}
	if !sameBits(runs[0].params, runs[1].params) {
		t.Fatal("same seed, different parameters")
	}
	l := runs[0].res.Losses
	first, last := (l[0]+l[1]+l[2])/3, (l[57]+l[58]+l[59])/3
	if !(last < 0.6*first) {
		t.Errorf("loss went from %.3f to %.3f", first, last)
	}
	if got := runs[0].res.FinalLoss(); got != l[59] {
		t.Errorf("FinalLoss = %v, want %v", got, l[59])
	}
}

func TestRunSeedChangesOrder(t *testing.T) {
	data := markovData(40, 8, 1)
	losses := func(seed uint64) []float64 {
		opt := baseOptions()
		opt.Seed = seed
		res, err := Run(context.Background(), newBigram(8, 3), data, opt, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.Losses
	}
	a, b := losses(1), losses(2)
	if a[0] == b[0] && a[1] == b[1] {
		t.Errorf("seeds 1 and 2 gave the same first batches (losses %v, %v)", a[:2], b[:2])
	}
}

// TestRunEpochs checks that Epochs mode visits every sequence exactly Epochs times, each epoch as a
// whole permutation, with a short last batch.
func TestRunEpochs(t *testing.T) {
	const n, epochs, batch = 10, 3, 4
	data := markovData(n, 8, 2)
	index := make(map[*int32]int)
	for i, s := range data {
		index[&s.Tokens[0]] = i
	}
	obj := newBigram(8, 3)
	var seen []int
	var sizes []int
	obj.hook = func(_ context.Context, b []llama.Sequence) (float64, int, bool, error) {
		sizes = append(sizes, len(b))
		for _, s := range b {
			seen = append(seen, index[&s.Tokens[0]])
		}
		return 0, 0, false, nil
	}
	opt := baseOptions()
	opt.Steps, opt.Epochs, opt.BatchSize = 0, epochs, batch
	res, err := Run(context.Background(), obj, data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (n*epochs + batch - 1) / batch; res.Steps != want || res.Total != want {
		t.Errorf("steps %d of %d, want %d", res.Steps, res.Total, want)
	}
	if want := []int{4, 4, 4, 4, 4, 4, 4, 2}; !equalInts(sizes, want) {
		t.Errorf("batch sizes %v, want %v", sizes, want)
	}
	for e := range epochs {
		count := make([]int, n)
		for _, i := range seen[e*n : (e+1)*n] {
			count[i]++
		}
		for i, c := range count {
			if c != 1 {
				t.Errorf("epoch %d: sequence %d seen %d times", e, i, c)
			}
		}
	}
	if equalInts(seen[:n], seen[n:2*n]) {
		t.Error("two epochs in the same order")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRunMicroBatch checks that micro-batches split the calls but not the step: the first step's
// loss is the same, only float rounding of the gradient sums differs.
func TestRunMicroBatch(t *testing.T) {
	data := markovData(40, 8, 1)
	opt := baseOptions()
	opt.BatchSize, opt.Steps = 8, 5
	whole := newBigram(8, 3)
	rw, err := Run(context.Background(), whole, data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	opt.MicroBatch = 3
	split := newBigram(8, 3)
	rs, err := Run(context.Background(), split, data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if whole.calls != 5 || split.calls != 15 {
		t.Errorf("calls: %d whole, %d split; want 5 and 15", whole.calls, split.calls)
	}
	for i := range rw.Losses {
		if d := math.Abs(rw.Losses[i] - rs.Losses[i]); d > 1e-5 {
			t.Errorf("step %d: loss %v whole, %v in micro-batches", i+1, rw.Losses[i], rs.Losses[i])
		}
	}
}

// TestResumeAfterCancel stops runs at several steps by cancelling their context and resumes them
// from the checkpoint into differently initialized parameters: every resumed run must end with the
// parameters and losses of an uninterrupted run, bit for bit.
func TestResumeAfterCancel(t *testing.T) {
	data := markovData(30, 8, 1)
	opt := baseOptions()
	straight := newBigram(8, 3)
	want, err := Run(context.Background(), straight, data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantParams := snapshot(straight)

	for _, tc := range []struct {
		name        string
		stopAt      int
		every       int
		micro       int
		resumesFrom int
	}{
		{"first step", 1, 0, 0, 1},
		{"mid run", 9, 0, 0, 9},
		{"between periodic", 11, 4, 0, 11},
		{"on periodic", 12, 4, 0, 12},
		{"micro-batches", 10, 3, 3, 10},
		{"next to last", 23, 5, 0, 23},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opt
			o.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
			o.CheckpointEvery = tc.every
			o.MicroBatch = tc.micro
			ref := want
			refParams := wantParams
			if tc.micro != 0 {
				// Micro-batching rounds differently, so compare against its own straight run.
				o2 := o
				o2.CheckpointPath, o2.CheckpointEvery = "", 0
				obj := newBigram(8, 3)
				if ref, err = Run(context.Background(), obj, data, o2, nil); err != nil {
					t.Fatal(err)
				}
				refParams = snapshot(obj)
			}

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			res, err := Run(ctx, newBigram(8, 3), data, o, func(p Progress) {
				if p.Step == tc.stopAt {
					cancel()
				}
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled run: %v", err)
			}
			if res.Steps != tc.stopAt {
				t.Fatalf("cancelled run completed %d steps, want %d", res.Steps, tc.stopAt)
			}

			resumed := newBigram(8, 99) // different start: the checkpoint must overwrite it
			res, err = Run(context.Background(), resumed, data, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.ResumedFrom != tc.resumesFrom || res.Steps != o.Steps {
				t.Fatalf("resumed from %d to %d, want %d to %d", res.ResumedFrom, res.Steps, tc.resumesFrom, o.Steps)
			}
			for i := range ref.Losses {
				if math.Float64bits(res.Losses[i]) != math.Float64bits(ref.Losses[i]) {
					t.Fatalf("step %d: loss %v resumed, %v straight", i+1, res.Losses[i], ref.Losses[i])
				}
			}
			if res.Tokens != ref.Tokens {
				t.Errorf("tokens %d resumed, %d straight", res.Tokens, ref.Tokens)
			}
			if !sameBits(snapshot(resumed), refParams) {
				t.Fatal("resumed run ended with different parameters")
			}

			// A finished run's checkpoint restores the final parameters without training.
			again := newBigram(8, 5)
			res, err = Run(context.Background(), again, data, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if again.calls != 0 || res.ResumedFrom != o.Steps || !sameBits(snapshot(again), refParams) {
				t.Errorf("rerun of a finished run: %d calls, resumed from %d, same params %v",
					again.calls, res.ResumedFrom, sameBits(snapshot(again), refParams))
			}
		})
	}
}

// TestCancelInsideStep cancels while the objective is computing: the half-done step is dropped and
// the run resumes from the step before.
func TestCancelInsideStep(t *testing.T) {
	data := markovData(30, 8, 1)
	opt := baseOptions()
	straight := newBigram(8, 3)
	if _, err := Run(context.Background(), straight, data, opt, nil); err != nil {
		t.Fatal(err)
	}
	opt.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obj := newBigram(8, 3)
	obj.hook = func(ctx context.Context, _ []llama.Sequence) (float64, int, bool, error) {
		if obj.calls == 6 {
			cancel()
			return 0, 0, true, ctx.Err()
		}
		return 0, 0, false, nil
	}
	res, err := Run(ctx, obj, data, opt, nil)
	if !errors.Is(err, context.Canceled) || res.Steps != 5 {
		t.Fatalf("got %d steps, error %v; want 5 steps and context.Canceled", res.Steps, err)
	}
	resumed := newBigram(8, 3)
	res, err = Run(context.Background(), resumed, data, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedFrom != 5 || !sameBits(snapshot(resumed), snapshot(straight)) {
		t.Fatalf("resumed from %d; same parameters as straight run: %v", res.ResumedFrom, sameBits(snapshot(resumed), snapshot(straight)))
	}
}

// TestStepFailures checks that a failing or non-finite step stops the run with the parameters of the
// last good step, saved to the checkpoint.
func TestStepFailures(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name string
		hook func() (float64, int, bool, error)
		want string
	}{
		{"objective error", func() (float64, int, bool, error) { return 0, 0, true, errBoom }, "boom"},
		{"NaN loss", func() (float64, int, bool, error) { return math.NaN(), 3, true, nil }, "loss NaN"},
		{"infinite loss", func() (float64, int, bool, error) { return math.Inf(1), 3, true, nil }, "loss +Inf"},
		{"no tokens", func() (float64, int, bool, error) { return 0, 0, true, nil }, "0 predicted tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := baseOptions()
			opt.CheckpointPath = filepath.Join(t.TempDir(), "ckpt")
			obj := newBigram(8, 3)
			var atStep3 [][]float32
			obj.hook = func(context.Context, []llama.Sequence) (float64, int, bool, error) {
				if obj.calls == 4 {
					return tc.hook()
				}
				return 0, 0, false, nil
			}
			res, err := Run(context.Background(), obj, markovData(30, 8, 1), opt, func(p Progress) {
				if p.Step == 3 {
					atStep3 = snapshot(obj)
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "step 4 of 24") {
				t.Fatalf("error %v, want one mentioning %q at step 4 of 24", err, tc.want)
			}
			if tc.name == "objective error" && !errors.Is(err, errBoom) {
				t.Errorf("error %v does not wrap the objective's", err)
			}
			if res.Steps != 3 || !sameBits(snapshot(obj), atStep3) {
				t.Fatalf("completed %d steps; parameters unchanged since step 3: %v", res.Steps, sameBits(snapshot(obj), atStep3))
			}
			ck, err := openCheckpoint(opt.CheckpointPath)
			if err != nil {
				t.Fatal(err)
			}
			if ck.state.step != 3 {
				t.Errorf("checkpoint at step %d, want 3", ck.state.step)
			}
		})
	}
}

// TestRunRejects covers inputs Run must refuse before touching the parameters.
func TestRunRejects(t *testing.T) {
	data := markovData(10, 8, 1)
	for _, tc := range []struct {
		name string
		obj  Objective
		data []llama.Sequence
		opt  Options
		want string
	}{
		{"nil objective", nil, data, baseOptions(), "nil objective"},
		{"no data", newBigram(8, 1), nil, baseOptions(), "no training sequences"},
		{"start zero", newBigram(8, 1), []llama.Sequence{{Tokens: []int32{1, 2}, Start: 0}}, baseOptions(), "sequence 0"},
		{"nothing to predict", newBigram(8, 1), []llama.Sequence{{Tokens: []int32{1, 2}, Start: 1}, {Tokens: []int32{1, 2}, Start: 2}}, baseOptions(), "sequence 1"},
		{"bad options", newBigram(8, 1), data, Options{}, "neither Steps nor Epochs"},
		{"no params", emptyObjective{}, data, baseOptions(), "no parameters"},
		{"shape mismatch", paramsObjective{{Name: "x", Shape: []int{2, 2}, Data: make([]float32, 3)}}, data, baseOptions(), "shape [2 2]"},
		{"missing checkpoint directory", newBigram(8, 1), data, func() Options {
			o := baseOptions()
			o.CheckpointPath = filepath.Join(t.TempDir(), "no", "such", "ckpt")
			return o
		}(), "checkpoint directory"},
		{"duplicate names", paramsObjective{{Name: "x", Shape: []int{1}, Data: make([]float32, 1)}, {Name: "x", Shape: []int{1}, Data: make([]float32, 1)}}, data, baseOptions(), "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(context.Background(), tc.obj, tc.data, tc.opt, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

type emptyObjective struct{}

func (emptyObjective) Params() []*llama.Param { return nil }
func (emptyObjective) LossAndGrad(context.Context, []llama.Sequence) (float64, int, error) {
	return 0, 0, errors.New("unreachable")
}

type paramsObjective []*llama.Param

func (o paramsObjective) Params() []*llama.Param { return o }
func (o paramsObjective) LossAndGrad(context.Context, []llama.Sequence) (float64, int, error) {
	return 0, 0, errors.New("unreachable")
}

// TestHookKeepsOptimizer checks that a run observed by a hook every few steps follows the same trajectory as
// one run without it (one optimizer throughout), and that ErrStop ends it early without an error.
func TestHookKeepsOptimizer(t *testing.T) {
	ctx := context.Background()
	run := func(opt Options) ([][]float32, Result, []int, error) {
		obj, data := newBigram(8, 3), markovData(40, 8, 1)
		var seen []int
		if opt.HookEvery > 0 {
			opt.Hook = func(_ context.Context, step int) error {
				seen = append(seen, step)
				if step >= 6 && opt.Steps > 8 {
					return ErrStop
				}
				return nil
			}
		}
		res, err := Run(ctx, obj, data, opt, nil)
		return snapshot(obj), res, seen, err
	}
	plain, _, _, err := run(Options{Steps: 8, BatchSize: 2, LR: 0.05, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	hooked, _, seen, err := run(Options{Steps: 8, BatchSize: 2, LR: 0.05, Seed: 3, HookEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !sameBits(plain, hooked) {
		t.Fatal("a run observed by a hook ended with other parameters than one without")
	}
	if !reflect.DeepEqual(seen, []int{3, 6, 8}) {
		t.Fatalf("hook saw steps %v, want [3 6 8]", seen)
	}
	_, res, seen, err := run(Options{Steps: 20, BatchSize: 2, LR: 0.05, Seed: 3, HookEvery: 3})
	if err != nil || res.Steps != 6 || len(res.Losses) != 6 || !reflect.DeepEqual(seen, []int{3, 6}) {
		t.Fatalf("stopped run: err %v, %d steps, %d losses, hook saw %v", err, res.Steps, len(res.Losses), seen)
	}
}
