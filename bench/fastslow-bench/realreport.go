package main

import (
	"fmt"
	"io"
	"strings"
)

// realReport is everything one real-shape run measured.
type realReport struct {
	Started      string            `json:"started"`
	CPU          string            `json:"cpu"`
	Threads      int               `json:"threads"`
	GoVersion    string            `json:"go_version"`
	Batch        int               `json:"batch"`
	Seq          int               `json:"seq"`
	Rank         int               `json:"rank"`
	Alpha        float64           `json:"alpha"`
	Rounds       int               `json:"rounds"`
	Recompute    bool              `json:"recompute,omitempty"`     // fastslow training recomputes blocks
	MemLimitMiB  int               `json:"mem_limit_mib,omitempty"` // fastslow training's memory limit
	Ollama       string            `json:"ollama"`
	OllamaCPU    string            `json:"ollama_cpu,omitempty"` // the features its ggml reports`
	Torch        map[string]any    `json:"torch,omitempty"`
	Models       []realModelResult `json:"models"`
	ParentHWMMiB float64           `json:"parent_vm_hwm_mib"`
	Notes        []string          `json:"notes,omitempty"`
}

// medianOfRounds is the median over rounds of each round's median of the samples f picks.
func medianOfRounds(rs []realRound, f func(*realRound) []float64) summary {
	var meds []float64
	for i := range rs {
		if xs := f(&rs[i]); len(xs) > 0 {
			meds = append(meds, summarize(xs).Median)
		}
	}
	return summarize(meds)
}

// pairedRatio is the median over rounds of the ratio of the two sides' medians within each round.
func pairedRatio(rs []realRound, num, den func(*realRound) []float64) summary {
	var out []float64
	for i := range rs {
		a, b := num(&rs[i]), den(&rs[i])
		if len(a) > 0 && len(b) > 0 {
			out = append(out, summarize(a).Median/summarize(b).Median)
		}
	}
	return summarize(out)
}

func maxRound(rs []realRound, f func(*realRound) float64) float64 {
	m := 0.0
	for i := range rs {
		m = max(m, f(&rs[i]))
	}
	return m
}

func roundLoads(rs []realRound) summary {
	var ls []float64
	for _, r := range rs {
		ls = append(ls, r.Load)
	}
	return summarize(ls)
}

func (r *realReport) write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## fastslow-bench real, %s\n\n", r.Started)
	p("- Machine: %s, %d threads per side; %s.\n", r.CPU, r.Threads, r.GoVersion)
	p("- Random weights written by the project (F16), quantized by %s with `ollama create --quantize`; "+
		"LoRA rank %d (alpha %g) on all seven projections; training batch %d × %d tokens; %d rounds, sides "+
		"alternating, each measurement in a child process whose own VmHWM is its peak memory.\n",
		r.Ollama, r.Rank, r.Alpha, r.Batch, r.Seq, r.Rounds)
	if r.Recompute || r.MemLimitMiB > 0 {
		p("- fastslow training with recompute=%v, memory limit %d MiB (0: none; recomputation where the step's "+
			"estimate exceeds it).\n", r.Recompute, r.MemLimitMiB)
	}
	if r.OllamaCPU != "" {
		p("- Ollama's runner reports: `%s`.\n", r.OllamaCPU)
	}
	if t := r.Torch; t != nil {
		p("- PyTorch %v (BLAS_INFO %v), %v, OpenBLAS kernels %v (OPENBLAS_CORETYPE=%q).\n", t["torch"],
			t["torch_blas_info"], t["openblas_config"], t["openblas_core"], t["openblas_coretype_env"])
	}
	for _, n := range r.Notes {
		p("- Note: %s\n", n)
	}
	p("\n| model | parameters | Q4_K_M file, MiB | training tokens/s | peak RSS, MiB | load, s | round: wall s / tokens/s / max RSS MiB | load avg |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.Models {
		goT := func(x *realRound) []float64 { return x.GoTrain }
		lr := "—"
		if l := m.Learning; l != nil {
			lr = fmt.Sprintf("%.0f / %s / %.0f (%d examples, %d steps)", l.WallSec, num(l.TokensPerS), l.MaxRSSMiB,
				l.Examples, l.Steps)
		}
		ls := roundLoads(m.Rounds)
		var loads []float64
		for _, x := range m.Rounds {
			loads = append(loads, x.GoLoadSec)
		}
		p("| %s | %.2f B | %.0f | %v | %.0f | %.1f | %s | %.1f–%.1f |\n", m.Shape.Name, float64(m.Params)/1e9,
			m.FileMiB["q4_k_m"], medianOfRounds(m.Rounds, goT),
			maxRound(m.Rounds, func(x *realRound) float64 { return x.GoTrainHWM }), summarize(loads).Median, lr, ls.Min, ls.Max)
	}
	p("\nTokens/s: median over rounds of each round's median step [min–max over rounds]. Peak RSS: the largest " +
		"VmHWM of the training worker over the rounds. Round: `fastslow train` on the examples, wall time of the " +
		"whole command (loading included), its own trained tokens/s (completion tokens), its ru_maxrss.\n")
	for _, m := range r.Models {
		if len(m.Rounds) > 0 && len(m.Rounds[0].TorchTrain) > 0 {
			goT := func(x *realRound) []float64 { return x.GoTrain }
			tT := func(x *realRound) []float64 { return x.TorchTrain }
			p("\n%s, LoRA training against PyTorch (eager, F32 weights of the same shapes, tied output): fastslow "+
				"(Q4_K_M base) %v tokens/s, PyTorch %v, fastslow / PyTorch %v (paired by round); peak RSS %.0f vs %.0f MiB.\n",
				m.Shape.Name, medianOfRounds(m.Rounds, goT), medianOfRounds(m.Rounds, tT), pairedRatio(m.Rounds, goT, tT),
				maxRound(m.Rounds, func(x *realRound) float64 { return x.GoTrainHWM }),
				maxRound(m.Rounds, func(x *realRound) float64 { return x.TorchTrainHWM }))
		}
		if f := m.Flops; f != nil {
			r.writeFlops(w, m.Shape.Name, f)
		}
		r.writeForward(w, m)
	}
	p("\nThe bench command's own peak memory: %.0f MiB (the floor of every child's ru_maxrss).\n", r.ParentHWMMiB)
}

func (r *realReport) writeFlops(w io.Writer, name string, f *flopModel) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n%s, FLOP model of a training token (base frozen): forward %.2f GFLOP, input gradient %.2f, LoRA %.3f "+
		"(attention %.3f of these): %.2f GFLOP per token. fastslow's matrix kernels run the step's products at "+
		"%.1f GFLOPS (F32, weighted by each product's share; OpenBLAS %.1f), which predicts %.1f tokens/s; "+
		"measured %.1f: %.2f of the prediction.\n", name, f.Forward/1e9, f.InputGrad/1e9, f.LoRA/1e9,
		f.Attention/1e9, f.Total/1e9, f.GFLOPS, f.BlasGFLOPS, f.Predicted, f.Measured, f.Ratio)
}

func (r *realReport) writeForward(w io.Writer, m realModelResult) {
	var types []string
	for _, t := range []string{"q8_0", "q4_k_m"} {
		if len(m.Rounds) > 0 && m.Rounds[0].Forward[t] != nil {
			types = append(types, t)
		}
	}
	if len(types) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\n%s, forward scoring of the same texts (fastslow's log-likelihood against Ollama's prompt evaluation, "+
		"prompt_eval_count / prompt_eval_duration, num_thread %d; fastslow multiplies by %s with int8 kernels, "+
		"activations quantized as ggml does, the other types in float32):\n\n", m.Shape.Name, r.Threads,
		int8Types(m.Rounds[0].Forward[types[0]].GoInt8))
	p("| base | fastslow tokens/s | Ollama tokens/s | fastslow / Ollama | tokens per text (fastslow / Ollama) | fastslow peak RSS, MiB |\n|---|---|---|---|---|---|\n")
	for _, t := range types {
		g := func(x *realRound) []float64 { return x.Forward[t].Go }
		o := func(x *realRound) []float64 { return x.Forward[t].Ollama }
		fr := m.Rounds[0].Forward[t]
		p("| %s | %v | %v | %v | %s / %s | %.0f |\n", strings.ToUpper(t), medianOfRounds(m.Rounds, g),
			medianOfRounds(m.Rounds, o), pairedRatio(m.Rounds, g, o), ints(fr.GoTokens), ints(fr.OllamaTokens),
			maxRound(m.Rounds, func(x *realRound) float64 { return x.Forward[t].GoHWM }))
	}
}

func ints(xs []int) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ",")
}

// int8Types names the weight types a scoring worker multiplied with int8 kernels.
func int8Types(ts []string) string {
	if len(ts) == 0 {
		return "no weight type"
	}
	return strings.Join(ts, ", ")
}
