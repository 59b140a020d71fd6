package llama

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// gradsOf runs one LossAndGrad through ws on fresh gradients and returns the loss and a copy of every
// gradient (base tensors when trainBase, then the adapter's).
func gradsOf(t *testing.T, ws *Workspace, m *Model, seqs []Sequence, a *Adapter, trainBase bool) (float64, [][]float32) {
	t.Helper()
	m.ZeroGrad()
	a.ZeroGrad()
	loss, _, err := ws.LossAndGrad(context.Background(), m, seqs, a, trainBase)
	if err != nil {
		t.Fatal(err)
	}
	var ps []*Param
	if trainBase {
		ps = m.Tensors()
	}
	ps = append(ps, a.Params()...)
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p.Grad)
	}
	return loss, out
}

// TestWorkspaceSameGradients checks that the memory options change nothing but memory: a reused workspace
// and per-block recomputation give the loss and gradients of a fresh unchunked pass bit for bit, on every
// architecture, for a LoRA alone and with the base trained too. Loss chunks of 1 and 3 positions give the
// same values up to rounding (1e-5 of each tensor's largest gradient): the output product of a few rows
// takes another kernel, summing in another order.
func TestWorkspaceSameGradients(t *testing.T) {
	for name, c := range archVariants() {
		for _, trainBase := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/base=%v", name, trainBase), func(t *testing.T) {
				m := newTinyConfig(t, c, 3)
				a, err := NewAdapter(m, LoRAConfig{Rank: 2, Alpha: 4, Targets: linearNames[:]}, 9)
				if err != nil {
					t.Fatal(err)
				}
				randomizeAdapter(a, 2)
				wantLoss, want := gradsOf(t, &Workspace{LossChunk: 1 << 20}, m, gradSeqs, a, trainBase)
				reused := &Workspace{}
				tests := []struct {
					name string
					ws   *Workspace
				}{
					{"default", &Workspace{}},
					{"reused", reused},
					{"reused again", reused},
					{"recompute", &Workspace{Recompute: true}},
					{"chunk 1", &Workspace{LossChunk: 1}},
					{"chunk 3 recompute", &Workspace{LossChunk: 3, Recompute: true}},
				}
				for _, tt := range tests {
					loss, got := gradsOf(t, tt.ws, m, gradSeqs, a, trainBase)
					exact := tt.ws.LossChunk == 0
					if loss != wantLoss && (exact || math.Abs(loss-wantLoss) > 1e-6*math.Abs(wantLoss)) {
						t.Errorf("%s: loss %v, want %v", tt.name, loss, wantLoss)
					}
					ps := a.Params()
					if trainBase {
						ps = append(m.Tensors(), ps...)
					}
					for i, p := range ps {
						if err := sameFloats(got[i], want[i], exact); err != nil {
							t.Errorf("%s: %s: %v", tt.name, p.Name, err)
							break
						}
					}
				}
			})
		}
	}
}

// sameFloats reports the first difference between got and want: any difference when exact, else one beyond
// 1e-5 of the largest magnitude in want.
func sameFloats(got, want []float32, exact bool) error {
	tol := float32(0)
	if !exact {
		for _, v := range want {
			tol = max(tol, float32(math.Abs(float64(v))))
		}
		tol *= 1e-5
	}
	for i := range want {
		if d := float32(math.Abs(float64(got[i] - want[i]))); d > tol || math.IsNaN(float64(got[i])) {
			return fmt.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// TestGradRecomputeChunked checks the gradients of a recomputing, chunked pass against finite differences of
// the float64 reference, for every architecture.
func TestGradRecomputeChunked(t *testing.T) {
	for name, c := range archVariants() {
		t.Run(name, func(t *testing.T) {
			m := newTinyConfig(t, c, 3)
			a := randomAdapter(t, m)
			ws := &Workspace{Recompute: true, LossChunk: 2}
			loss, _, err := ws.LossAndGrad(context.Background(), m, gradSeqs, a, true)
			if err != nil {
				t.Fatal(err)
			}
			checkLossAndGrads(t, m, a, loss, rand.New(rand.NewPCG(5, 5)))
		})
	}
}

// TestWorkspaceReuse checks that a workspace stops allocating activation memory once it has seen the
// largest batch: a smaller batch and then the same batch again leave its size unchanged.
func TestWorkspaceReuse(t *testing.T) {
	m := newTiny(t, false, 3)
	a, err := NewAdapter(m, LoRAConfig{Rank: 2, Targets: linearNames[:]}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ws := &Workspace{}
	ctx := context.Background()
	if _, _, err := ws.LossAndGrad(ctx, m, gradSeqs, a, false); err != nil {
		t.Fatal(err)
	}
	size := ws.Bytes()
	if size == 0 {
		t.Fatal("the workspace holds nothing after a pass")
	}
	for _, seqs := range [][]Sequence{gradSeqs[1:], gradSeqs} {
		if _, _, err := ws.LossAndGrad(ctx, m, seqs, a, false); err != nil {
			t.Fatal(err)
		}
		if ws.Bytes() != size {
			t.Fatalf("workspace grew from %d to %d bytes on a batch it had room for", size, ws.Bytes())
		}
	}
}

// BenchmarkLossAndGradWorkspace is BenchmarkLossAndGrad's LoRA step through one reused workspace, with and
// without recomputation; -benchmem shows what a step allocates once the workspace has its buffers.
func BenchmarkLossAndGradWorkspace(b *testing.B) {
	for _, recompute := range []bool{false, true} {
		b.Run(fmt.Sprintf("recompute=%v", recompute), func(b *testing.B) {
			m, tokens := benchModel(b)
			a, err := NewAdapter(m, LoRAConfig{Rank: 8, Alpha: 16, Targets: linearNames[:]}, 1)
			if err != nil {
				b.Fatal(err)
			}
			seqs := make([]Sequence, 4)
			for i := range seqs {
				seqs[i] = Sequence{Tokens: tokens, Start: 1}
			}
			ws := &Workspace{Recompute: recompute}
			for b.Loop() {
				if _, _, err := ws.LossAndGrad(context.Background(), m, seqs, a, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(seqs)*benchSeq*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// TestOutputBlocks checks the output layer's products over blocks of vocabulary rows against one whole
// product: logits equal bit for bit, input gradients within rounding.
func TestOutputBlocks(t *testing.T) {
	defer func(v int) { outBlockFloats = v }(outBlockFloats)
	rng := rand.New(rand.NewPCG(3, 3))
	const k, d, vocab = 9, 16, 1000
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s
	}
	x, w, dz := fill(k*d), fill(vocab*d), fill(k*vocab)
	want, wantDX := make([]float32, k*vocab), fill(k*d)
	matMul(want, x, w, k, d, vocab)
	gotDX := slices.Clone(wantDX)
	matMulBackX(wantDX, dz, w, k, d, vocab)
	outBlockFloats = 64 * d // blocks of 64 rows: 16 blocks, the last one short
	got := make([]float32, k*vocab)
	outputProduct(got, x, w, k, d, vocab)
	if err := sameFloats(got, want, true); err != nil {
		t.Errorf("logits: %v", err)
	}
	outputBackX(gotDX, dz, w, k, d, vocab)
	if err := sameFloats(gotDX, wantDX, false); err != nil {
		t.Errorf("input gradient: %v", err)
	}
}

// TestScoreChunk checks the loss's chunk sizes: a set LossChunk is kept, the default grows to what fits in
// the spare floats, evened out over the chunks, and the chunk borrows the spare floats only when it fits.
func TestScoreChunk(t *testing.T) {
	tests := []struct {
		name                         string
		setting, rows, perRow, spare int
		chunk                        int
		borrow                       bool
	}{
		{"1B shape", 0, 1020, 2*2048 + 128256, 1024 * 33808, 255, true},
		{"default, no spare", 0, 1020, 100, 0, DefaultLossChunk, false},
		{"default fits", 0, 50, 100, 5000, DefaultLossChunk, true},
		{"default does not fit", 0, 200, 100, 12799, DefaultLossChunk, false},
		{"grows to one chunk", 0, 300, 100, 40000, 300, true},
		{"grows, evened out", 0, 301, 100, 20000, 151, true},
		{"set, fits", 8, 30, 43, 4416, 8, true},
		{"set, does not fit", 8, 30, 2032, 4416, 8, false},
		{"set, fewer rows", 64, 30, 100, 3000, 64, true},
	}
	for _, tt := range tests {
		chunk, borrow := scoreChunk(tt.setting, tt.rows, tt.perRow, tt.spare)
		if chunk != tt.chunk || borrow != tt.borrow {
			t.Errorf("%s: scoreChunk = %d, %v, want %d, %v", tt.name, chunk, borrow, tt.chunk, tt.borrow)
		}
	}
}
