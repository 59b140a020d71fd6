package llama

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"testing"
)

// The backward pass is checked against central finite differences of the float64 reference forward
// (refLogits): the analytic float32 gradient of every parameter kind must match
//
//	|g − fd| <= gradRelTol·|fd|                     on the gradTopK largest-gradient entries of each tensor, and
//	|g − fd| <= gradRelTol·max(|fd|, max|g| of tensor) on gradRandK random entries.
//
// Float64 differences make the oracle itself accurate to ~1e-7, so the tolerance only has to absorb the
// float32 arithmetic of the model; a gradient off by a few percent in any checked entry fails.
const (
	gradRelTol = 2e-3
	gradTopK   = 4
	gradRandK  = 4
	fdStep     = 1e-3
)

// gradSeqs are two sequences of different lengths whose losses start past the first prediction.
var gradSeqs = []Sequence{
	{Tokens: []int32{3, 1, 4, 1, 5, 9, 2}, Start: 3},
	{Tokens: []int32{2, 7, 10, 8, 0}, Start: 2},
}

// refLoss is the float64 reference of LossAndGrad's loss sum.
func refLoss(m *Model, seqs []Sequence, a *Adapter) float64 {
	var loss float64
	for _, s := range seqs {
		z := refLogits(m, s.Tokens, a)
		for i := s.Start; i < len(s.Tokens); i++ {
			row := z[i-1]
			mx := slices.Max(row)
			var sum float64
			for _, v := range row {
				sum += math.Exp(v - mx)
			}
			loss += math.Log(sum) + mx - row[s.Tokens[i]]
		}
	}
	return loss
}

// fdGrad is the central finite difference of refLoss with respect to p.Data[i]. The step is measured after
// rounding to float32, so the quotient uses the perturbation the model actually saw.
func fdGrad(m *Model, seqs []Sequence, a *Adapter, p *Param, i int) float64 {
	orig := p.Data[i]
	p.Data[i] = orig + fdStep
	hi, up := refLoss(m, seqs, a), float64(p.Data[i])
	p.Data[i] = orig - fdStep
	lo, down := refLoss(m, seqs, a), float64(p.Data[i])
	p.Data[i] = orig
	return (hi - lo) / (up - down)
}

// checkGrad compares grad (the analytic gradient of p) with finite differences on the entries described at
// gradRelTol, returning the first mismatch.
func checkGrad(m *Model, seqs []Sequence, a *Adapter, p *Param, grad []float32, rng *rand.Rand) error {
	idx := make([]int, len(grad))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return math.Abs(float64(grad[idx[x]])) > math.Abs(float64(grad[idx[y]])) })
	gmax := math.Abs(float64(grad[idx[0]]))
	if gmax == 0 {
		return fmt.Errorf("%s: gradient is all zero", p.Name)
	}
	check := func(i int, floor float64) error {
		fd := fdGrad(m, seqs, a, p, i)
		if diff := math.Abs(float64(grad[i]) - fd); diff > gradRelTol*math.Max(math.Abs(fd), floor) {
			return fmt.Errorf("%s[%d]: analytic %.6g, finite difference %.6g", p.Name, i, grad[i], fd)
		}
		return nil
	}
	for _, i := range idx[:min(gradTopK, len(idx))] {
		if err := check(i, 0); err != nil {
			return err
		}
	}
	for range gradRandK {
		if err := check(rng.IntN(len(grad)), gmax); err != nil {
			return err
		}
	}
	return nil
}

// randomizeAdapter gives B non-zero values: with PEFT's B = 0 the gradient of A would vanish.
func randomizeAdapter(a *Adapter, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range a.Params() {
		for i := range p.Data {
			p.Data[i] = float32(rng.NormFloat64() * 0.2)
		}
	}
}

// randomAdapter is a rank-2 LoRA adapter on every projection of m with random A and B, so that both factors
// carry gradient.
func randomAdapter(t *testing.T, m *Model) *Adapter {
	t.Helper()
	a, err := NewAdapter(m, LoRAConfig{Rank: 2, Alpha: 4, Targets: linearNames[:]}, 9)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a, 2)
	return a
}

// checkLossAndGrads fails t unless loss is the reference loss of gradSeqs under a (nil: no adapter) and the
// gradient left in every tensor of m and of a agrees with finite differences at indices drawn from rng.
func checkLossAndGrads(t *testing.T, m *Model, a *Adapter, loss float64, rng *rand.Rand) {
	t.Helper()
	if want := refLoss(m, gradSeqs, a); math.Abs(loss-want) > 1e-4*want {
		t.Fatalf("loss %v, reference %v", loss, want)
	}
	params := m.Tensors()
	if a != nil {
		params = append(params, a.Params()...)
	}
	for _, p := range params {
		if err := checkGrad(m, gradSeqs, a, p, p.Grad, rng); err != nil {
			t.Error(err)
		}
	}
}

func TestGradBase(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run(fmt.Sprintf("tied=%v", tied), func(t *testing.T) {
			m := newTiny(t, tied, 3)
			loss, n, err := m.LossAndGrad(context.Background(), gradSeqs, nil, true)
			if err != nil {
				t.Fatal(err)
			}
			if n != 4+3 {
				t.Fatalf("scored %d tokens, want 7", n)
			}
			checkLossAndGrads(t, m, nil, loss, rand.New(rand.NewPCG(5, 5)))
		})
	}
}

func TestGradLoRA(t *testing.T) {
	m := newTiny(t, false, 4)
	a, err := NewAdapter(m, LoRAConfig{Rank: 3, Alpha: 6, Targets: []string{
		"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}}, 9)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a, 2)
	// LoRA and base gradients together: the base must see the adapted forward.
	loss, _, err := m.LossAndGrad(context.Background(), gradSeqs, a, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(a.Params()); got != 2*7*m.Config.Layers {
		t.Fatalf("%d adapter tensors, want %d", got, 2*7*m.Config.Layers)
	}
	checkLossAndGrads(t, m, a, loss, rand.New(rand.NewPCG(6, 6)))

	// Adapter-only training must give the same adapter gradients and leave the base untouched.
	m2 := newTiny(t, false, 4)
	a2, err := NewAdapter(m2, a.Config, 9)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(a2, 2)
	if _, _, err := m2.LossAndGrad(context.Background(), gradSeqs, a2, false); err != nil {
		t.Fatal(err)
	}
	for i, p := range a2.Params() {
		q := a.Params()[i]
		for j := range p.Grad {
			if d := math.Abs(float64(p.Grad[j] - q.Grad[j])); d > 1e-5*(1+math.Abs(float64(q.Grad[j]))) {
				t.Fatalf("%s[%d]: adapter-only grad %v, with base %v", p.Name, j, p.Grad[j], q.Grad[j])
			}
		}
	}
	for _, p := range m2.Tensors() {
		if p.Grad != nil {
			t.Fatalf("%s: base gradient allocated in adapter-only training", p.Name)
		}
	}
}

// TestGradCheckCatchesErrors makes sure the checker is not vacuous: a gradient that is right except for a
// few percent on one entry, or a sign, must fail.
func TestGradCheckCatchesErrors(t *testing.T) {
	m := newTiny(t, false, 3)
	if _, _, err := m.LossAndGrad(context.Background(), gradSeqs, nil, true); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Tensor("blk.1.attn_k.weight")
	rng := rand.New(rand.NewPCG(1, 1))
	if err := checkGrad(m, gradSeqs, nil, p, p.Grad, rng); err != nil {
		t.Fatalf("correct gradient rejected: %v", err)
	}
	top := 0
	for i, g := range p.Grad {
		if math.Abs(float64(g)) > math.Abs(float64(p.Grad[top])) {
			top = i
		}
	}
	for _, factor := range []float32{1.03, -1} {
		bad := slices.Clone(p.Grad)
		bad[top] *= factor
		if err := checkGrad(m, gradSeqs, nil, p, bad, rng); err == nil {
			t.Errorf("gradient with entry %d scaled by %v accepted", top, factor)
		}
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(77, 77)) }

// TestWorkersDoNotChangeResults runs the same training step on one worker and on several with every parallel
// path forced on, for llama and for each architecture variant: losses and gradients must be bitwise equal
// (each value is summed in a fixed order by one goroutine). Under -race this also checks that the parallel
// paths do not share writes.
func TestWorkersDoNotChangeResults(t *testing.T) {
	configs := archVariants()
	configs["llama"] = tinyConfig(false)
	for name, c := range configs {
		step := func(procs int) (float64, [][]float32) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			m := newTinyConfig(t, c, 21)
			a, err := NewAdapter(m, LoRAConfig{Rank: 2, Targets: linearNames[:]}, 4)
			if err != nil {
				t.Fatal(err)
			}
			randomizeAdapter(a, 5)
			loss, _, err := m.LossAndGrad(context.Background(), gradSeqs, a, true)
			if err != nil {
				t.Fatal(err)
			}
			var grads [][]float32
			for _, p := range append(m.Tensors(), a.Params()...) {
				grads = append(grads, p.Grad)
			}
			return loss, grads
		}
		func() {
			defer func(e, p int) { elementGrain, parallelMin = e, p }(elementGrain, parallelMin)
			elementGrain, parallelMin = 1, 1
			l1, g1 := step(1)
			for _, procs := range []int{2, 3} {
				l2, g2 := step(procs)
				if l1 != l2 {
					t.Errorf("%s, %d workers: loss %v, one worker %v", name, procs, l2, l1)
				}
				for i := range g1 {
					if !slices.Equal(g1[i], g2[i]) {
						t.Errorf("%s, %d workers: gradient %d differs", name, procs, i)
					}
				}
			}
		}()
	}
}
