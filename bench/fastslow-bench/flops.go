package main

import (
	"fmt"

	"github.com/fastslow/fastslow/weights/llama"
)

// flopModel predicts LoRA training throughput from the work a step does and the speed of the machine's matrix
// kernels at the model's shapes, and compares it with the throughput measured.
//
// Per training token, with the base frozen (no weight gradient for it):
//
//	forward       2·(weights of the seven projections of every block + the output projection)
//	              + attention: 4·QDim·(keys seen) per block (scores and the weighted sum of values)
//	input grad.   the same products again, transposed (every block, down to the first: LoRA A of block 0
//	              needs the gradient at its output) + attention backward: 2× its forward
//	LoRA          6·r·(in+out) per adapted projection: x·A, ·B forward; dB, d(xA), dA, dx backward
//
// Keys seen: (seq+1)/2 on average under the causal mask (at most the sliding window on gemma3's local layers).
// Norms, RoPE, SwiGLU, softmax and cross-entropy add O(dim + vocab) per token and are left out.
type flopModel struct {
	Forward    float64 `json:"forward_flops_per_token"`
	InputGrad  float64 `json:"input_grad_flops_per_token"`
	LoRA       float64 `json:"lora_flops_per_token"`
	Attention  float64 `json:"attention_flops_per_token"` // part of Forward and InputGrad
	Total      float64 `json:"total_flops_per_token"`
	GFLOPS     float64 `json:"kernel_gflops"`   // fastslow's kernels, weighted over the step's products
	BlasGFLOPS float64 `json:"openblas_gflops"` // OpenBLAS's, same weighting, same kernels as PyTorch
	Predicted  float64 `json:"predicted_tokens_per_s"`
	Measured   float64 `json:"measured_tokens_per_s"` // median over rounds of each round's median
	Ratio      float64 `json:"measured_over_predicted"`

	cfg        llama.Config
	rows, rank int
	weights    map[string]float64 // name of a product → its FLOPs per step
}

func newFlopModel(c llama.Config, batch, seq, rank int) *flopModel {
	f := &flopModel{cfg: c, rows: batch * seq, rank: rank}
	var mat float64
	for _, p := range projections(c) {
		mat += float64(c.Layers) * float64(p.in*p.out)
		f.LoRA += float64(c.Layers) * 6 * float64(rank) * float64(p.in+p.out)
	}
	mat += float64(c.Dim) * float64(c.Vocab)
	qdim := float64(c.Heads * c.HeadDim())
	for l := range c.Layers {
		keys := float64(seq+1) / 2
		if c.SlidingLayer(l) && c.SlidingWindow > 0 && c.SlidingWindow < seq {
			w := float64(c.SlidingWindow)
			keys = (w*(w+1)/2 + float64(seq-c.SlidingWindow)*w) / float64(seq) // mean of min(p+1, w)
		}
		f.Attention += 3 * 4 * qdim * keys // forward, and twice that backward
	}
	attnFwd := f.Attention / 3
	f.Forward = 2*mat + attnFwd
	f.InputGrad = 2*mat + 2*attnFwd
	f.Total = f.Forward + f.InputGrad + f.LoRA
	return f
}

// shapes lists the products of a training step at the model's shapes, once each: forward y = x·Wᵀ and input
// gradient dx = dy·W of every distinct projection and of the output.
func (f *flopModel) shapes() []sgemmShape {
	c, t := f.cfg, f.rows
	type io struct{ in, out int }
	count, names := map[io]float64{}, map[io]string{}
	var order []io
	for _, p := range projections(c) {
		k := io{p.in, p.out}
		if _, ok := count[k]; ok {
			names[k] += "/" + p.name // attn_v has attn_k's shape, ffn_up ffn_gate's: timed once
		} else {
			order, names[k] = append(order, k), p.name
		}
		count[k] += float64(c.Layers)
	}
	out := io{c.Dim, c.Vocab}
	order, names[out], count[out] = append(order, out), "output", 1
	f.weights = map[string]float64{}
	var shapes []sgemmShape
	for _, k := range order {
		fwd := sgemmShape{Name: fmt.Sprintf("fwd %s %dx%dx%d", names[k], t, k.out, k.in), M: t, N: k.out, K: k.in, TB: true}
		dx := sgemmShape{Name: fmt.Sprintf("dx %s %dx%dx%d", names[k], t, k.in, k.out), M: t, N: k.in, K: k.out}
		for _, s := range []sgemmShape{fwd, dx} {
			f.weights[s.Name] = count[k] * 2 * float64(s.M) * float64(s.N) * float64(s.K)
			shapes = append(shapes, s)
		}
	}
	return shapes
}

// fill computes the kernels' speed over the step's products from the rounds' sgemm results, the prediction,
// and the measured throughput.
func (f *flopModel) fill(rounds []realRound) {
	if f.weights == nil {
		f.shapes()
	}
	weighted := func(pick func(*realRound) []sgemmResult) float64 {
		per := map[string][]float64{}
		for i := range rounds {
			for _, r := range pick(&rounds[i]) {
				per[r.Name] = append(per[r.Name], summarize(r.GFLOPS).Median)
			}
		}
		var flops, secs float64
		for name, w := range f.weights {
			g := summarize(per[name]).Median
			if g <= 0 {
				return 0
			}
			flops += w
			secs += w / (g * 1e9)
		}
		return flops / secs / 1e9
	}
	f.GFLOPS = weighted(func(r *realRound) []sgemmResult { return r.GoSgemm })
	f.BlasGFLOPS = weighted(func(r *realRound) []sgemmResult { return r.BlasSgemm })
	f.Predicted = f.GFLOPS * 1e9 / f.Total
	var meds []float64
	for _, r := range rounds {
		if len(r.GoTrain) > 0 {
			meds = append(meds, summarize(r.GoTrain).Median)
		}
	}
	f.Measured = summarize(meds).Median
	if f.Predicted > 0 {
		f.Ratio = f.Measured / f.Predicted
	}
}
