package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// writeReport prints rep as Markdown on w and, when jsonPath is not empty, writes it there as indented JSON too.
func writeReport(w io.Writer, rep interface{ write(io.Writer) }, jsonPath string) error {
	rep.write(w)
	if jsonPath == "" {
		return nil
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(jsonPath, js, 0o644)
}

// report is everything one run measured; it is printed as Markdown and optionally written as JSON.
type report struct {
	Started    string         `json:"started"`
	CPU        string         `json:"cpu"`
	Threads    int            `json:"threads"`
	Config     benchConfig    `json:"config"`
	Kernel     string         `json:"go_kernel"`
	Torch      map[string]any `json:"torch,omitempty"`
	OllamaHost string         `json:"ollama_host,omitempty"`
	Check      struct {
		GoLoss      float64 `json:"go_loss"`
		TorchLoss   float64 `json:"torch_loss"`
		GradRelDiff float64 `json:"grad_rel_diff"`
		Passed      bool    `json:"passed"`
	} `json:"check"`
	LoadBefore float64        `json:"load_before"`
	LoadAfter  float64        `json:"load_after"`
	Rounds     []roundResult  `json:"rounds"`
	Notes      []string       `json:"notes,omitempty"`
	Extra      map[string]any `json:"extra,omitempty"`
}

// roundResult holds one round: per-step (or per-sequence) tokens/s of every side and their peak memory.
type roundResult struct {
	Load          float64       `json:"load"`
	GoTrain       []float64     `json:"go_train"`
	TorchTrain    []float64     `json:"torch_train,omitempty"`
	GoScore       []float64     `json:"go_score"`
	TorchScore    []float64     `json:"torch_score,omitempty"`
	OllamaScore   []float64     `json:"ollama_score,omitempty"`
	GoTrainRSS    float64       `json:"go_train_rss_mib"`
	TorchTrainRSS float64       `json:"torch_train_rss_mib,omitempty"`
	GoScoreRSS    float64       `json:"go_score_rss_mib"`
	TorchScoreRSS float64       `json:"torch_score_rss_mib,omitempty"`
	GoSgemm       []sgemmResult `json:"go_sgemm,omitempty"`
	BlasSgemm     []sgemmResult `json:"openblas_sgemm,omitempty"`
}

// perRound summarizes, over the rounds, the median of each round's samples picked by f.
func (r *report) perRound(f func(*roundResult) []float64) summary {
	var meds []float64
	for i := range r.Rounds {
		if xs := f(&r.Rounds[i]); len(xs) > 0 {
			meds = append(meds, summarize(xs).Median)
		}
	}
	return summarize(meds)
}

// ratio summarizes, over the rounds, the ratio of the medians of num and den within each round: pairing
// the sides by round cancels the load they shared.
func (r *report) ratio(num, den func(*roundResult) []float64) summary {
	var rs []float64
	for i := range r.Rounds {
		a, b := num(&r.Rounds[i]), den(&r.Rounds[i])
		if len(a) > 0 && len(b) > 0 {
			rs = append(rs, summarize(a).Median/summarize(b).Median)
		}
	}
	return summarize(rs)
}

// pooled summarizes every sample picked by f over all rounds.
func (r *report) pooled(f func(*roundResult) []float64) summary {
	var xs []float64
	for i := range r.Rounds {
		xs = append(xs, f(&r.Rounds[i])...)
	}
	return summarize(xs)
}

func (r *report) maxOf(f func(*roundResult) float64) float64 {
	m := 0.0
	for i := range r.Rounds {
		m = max(m, f(&r.Rounds[i]))
	}
	return m
}

func (r *report) write(w io.Writer) {
	c := r.Config
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## fastslow-bench, %s\n\n", r.Started)
	p("- Model: llama, vocab %d, dim %d, %d layers, %d heads / %d kv heads, ffn %d; LoRA rank %d (alpha %g) on all "+
		"seven projections; training batch %d × %d tokens; scoring sequences of %d tokens.\n",
		c.Vocab, c.Dim, c.Layers, c.Heads, c.KVHeads, c.Hidden, c.Rank, c.Alpha, c.Batch, c.Seq, c.SeqMax-16)
	loads := make([]float64, 0, len(r.Rounds))
	for _, rr := range r.Rounds {
		loads = append(loads, rr.Load)
	}
	ls := summarize(loads)
	p("- Machine: %s, %d threads per side; load average %.1f before, %.1f after, %.1f–%.1f at round starts.\n",
		r.CPU, r.Threads, r.LoadBefore, r.LoadAfter, ls.Min, ls.Max)
	p("- fastslow: %s, GOMAXPROCS %d, matrix kernel %s.\n", runtime.Version(), r.Threads, r.Kernel)
	if r.Torch != nil {
		p("- PyTorch %v (BLAS_INFO %v, CPU capability %v), BLAS loaded %v: %v, running OpenBLAS's %v kernels "+
			"(OPENBLAS_CORETYPE=%q; OpenBLAS alone picks %v); the OpenBLAS sgemm side runs the same library and kernels.\n",
			r.Torch["torch"], r.Torch["torch_blas_info"], r.Torch["torch_cpu_capability"], r.Torch["blas_libs"],
			r.Torch["openblas_config"], r.Torch["openblas_core"], r.Torch["openblas_coretype_env"], r.Torch["openblas_detected"])
		p("- Cross-check on the training batch: loss %.6f (fastslow) vs %.6f (PyTorch), LoRA gradients differ by "+
			"%.1e (relative L2): %s.\n", r.Check.GoLoss, r.Check.TorchLoss, r.Check.GradRelDiff,
			map[bool]string{true: "passed", false: "FAILED"}[r.Check.Passed])
	}
	if r.OllamaHost != "" {
		p("- Ollama at %s, the same GGUF (F32), num_thread %d; its own prompt_eval_count/prompt_eval_duration.\n",
			r.OllamaHost, r.Threads)
	}
	for _, n := range r.Notes {
		p("- Note: %s\n", n)
	}
	p("\nMedians over %d rounds of each round's median, [min–max] over rounds; ratios are paired by round.\n\n",
		len(r.Rounds))
	p("| measurement | fastslow | reference | fastslow / reference |\n|---|---|---|---|\n")
	goT := func(x *roundResult) []float64 { return x.GoTrain }
	tT := func(x *roundResult) []float64 { return x.TorchTrain }
	goS := func(x *roundResult) []float64 { return x.GoScore }
	tS := func(x *roundResult) []float64 { return x.TorchScore }
	oS := func(x *roundResult) []float64 { return x.OllamaScore }
	if r.Torch != nil {
		p("| LoRA training, tokens/s (vs PyTorch) | %v | %v | %v |\n", r.perRound(goT), r.perRound(tT), r.ratio(goT, tT))
		p("| forward scoring, tokens/s (vs PyTorch) | %v | %v | %v |\n", r.perRound(goS), r.perRound(tS), r.ratio(goS, tS))
	} else {
		p("| LoRA training, tokens/s | %v | — | — |\n", r.perRound(goT))
		p("| forward scoring, tokens/s | %v | — | — |\n", r.perRound(goS))
	}
	if r.OllamaHost != "" {
		p("| forward scoring vs Ollama prompt eval, tokens/s | %v | %v | %v |\n", r.perRound(goS), r.perRound(oS), r.ratio(goS, oS))
	}
	goTR := r.maxOf(func(x *roundResult) float64 { return x.GoTrainRSS })
	goSR := r.maxOf(func(x *roundResult) float64 { return x.GoScoreRSS })
	if r.Torch != nil {
		tTR := r.maxOf(func(x *roundResult) float64 { return x.TorchTrainRSS })
		tSR := r.maxOf(func(x *roundResult) float64 { return x.TorchScoreRSS })
		p("| peak RSS, training process, MiB | %.0f | %.0f | %.2f |\n", goTR, tTR, goTR/tTR)
		p("| peak RSS, scoring process, MiB | %.0f | %.0f | %.2f |\n", goSR, tSR, goSR/tSR)
	} else {
		p("| peak RSS, training / scoring process, MiB | %.0f / %.0f | — | — |\n", goTR, goSR)
	}
	p("\nNoise, the interquartile range of all per-step (per-sequence) figures over their median: training %s, "+
		"scoring %s.\n", r.noise(goT, tT), r.noise(goS, tS, oS))

	r.writeSgemm(w)
}

// writeSgemm prints the matrix multiply comparison: per product and thread count, the median over rounds of
// each side's median GFLOPS, the median of the per-round ratios, and each side's best call, which on a
// shared machine is the closest to what the code does alone.
func (r *report) writeSgemm(w io.Writer) {
	type key struct {
		name    string
		threads int
	}
	var order []key
	goMed, blasMed, ratios := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
	goBest, blasBest := map[key]float64{}, map[key]float64{}
	for _, rr := range r.Rounds {
		blas := map[key]summary{}
		for _, b := range rr.BlasSgemm {
			k := key{b.Name, b.Threads}
			s := summarize(b.GFLOPS)
			blas[k] = s
			blasMed[k] = append(blasMed[k], s.Median)
			blasBest[k] = max(blasBest[k], s.Max)
		}
		for _, g := range rr.GoSgemm {
			k := key{g.Name, g.Threads}
			if _, seen := goMed[k]; !seen {
				order = append(order, k)
			}
			s := summarize(g.GFLOPS)
			goMed[k] = append(goMed[k], s.Median)
			goBest[k] = max(goBest[k], s.Max)
			if b, ok := blas[k]; ok && b.Median > 0 {
				ratios[k] = append(ratios[k], s.Median/b.Median)
			}
		}
	}
	if len(order) == 0 {
		return
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\nMatrix multiply C = op(A)·op(B) at the model's shapes (m×n×k), GFLOPS: median over rounds of each " +
		"round's median [min–max], best single call, and the median of the per-round ratios.\n\n")
	p("| product | threads | fastslow | OpenBLAS | ratio of medians | fastslow best | OpenBLAS best | ratio of bests |\n")
	p("|---|---|---|---|---|---|---|---|\n")
	for _, k := range order {
		gs, bs, rs := summarize(goMed[k]), summarize(blasMed[k]), summarize(ratios[k])
		best := "—"
		if blasBest[k] > 0 {
			best = fmt.Sprintf("%.2f", goBest[k]/blasBest[k])
		}
		bb := "—"
		if blasBest[k] > 0 {
			bb = num(blasBest[k])
		}
		rr := "—"
		if rs.N > 0 {
			rr = fmt.Sprintf("%.2f [%.2f–%.2f]", rs.Median, rs.Min, rs.Max)
		}
		p("| %s | %d | %v | %v | %s | %s | %s | %s |\n", k.name, k.threads, gs, bs, rr, num(goBest[k]), bb, best)
	}
}

// noise formats the relative interquartile range of each side's pooled samples.
func (r *report) noise(fs ...func(*roundResult) []float64) string {
	names := []string{"fastslow", "PyTorch", "Ollama"}
	var parts []string
	for i, f := range fs {
		if s := r.pooled(f); s.N > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", names[i], 100*s.spread()))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}
