package llama

import (
	"math"
)

// refLogits is an independent, deliberately plain float64 implementation of the llama forward pass (no
// packing, no blocking, no caches), written from the formulas: it is the oracle for the optimized code.
func refLogits(m *Model, tokens []int32, a *Adapter) [][]float64 {
	c := m.Config
	d, hd := c.Dim, m.headDim
	T := len(tokens)
	f64 := func(p *Param) []float64 {
		out := make([]float64, len(p.Data))
		for i, v := range p.Data {
			out[i] = float64(v)
		}
		return out
	}
	// lin returns rows·Wᵀ for W [out][in].
	lin := func(x [][]float64, w []float64, out int) [][]float64 {
		y := make([][]float64, len(x))
		for t, xr := range x {
			y[t] = make([]float64, out)
			for o := range out {
				var s float64
				for i, v := range xr {
					s += v * w[o*len(xr)+i]
				}
				y[t][o] = s
			}
		}
		return y
	}
	adapted := func(x [][]float64, l int, name string) [][]float64 {
		w := m.layers[l].linear(name)
		y := lin(x, f64(w), w.Shape[1])
		if a != nil {
			if lp := a.pairs[l][targetIndex(name)]; lp != nil {
				ab := lin(lin(x, f64(lp.a), a.Config.Rank), f64(lp.b), w.Shape[1])
				for t := range y {
					for o := range y[t] {
						y[t][o] += float64(a.scale) * ab[t][o]
					}
				}
			}
		}
		if b := m.layers[l].bias(targetIndex(name)); b != nil {
			for t := range y {
				for o := range y[t] {
					y[t][o] += float64(b.Data[o])
				}
			}
		}
		return y
	}
	norm := func(x [][]float64, w []float32) [][]float64 {
		y := make([][]float64, len(x))
		for t, xr := range x {
			var ss float64
			for _, v := range xr {
				ss += v * v
			}
			s := 1 / math.Sqrt(ss/float64(len(xr))+float64(c.NormEps))
			y[t] = make([]float64, len(xr))
			for i, v := range xr {
				y[t][i] = v * s * float64(w[i])
			}
		}
		return y
	}
	gemma := c.Architecture() == ArchGemma3
	// Gemma's sliding-window layers: all but each sixth, with their own RoPE base and no scaling.
	sliding := func(l int) bool { return gemma && (l+1)%6 != 0 }
	rope := func(x [][]float64, heads, l int) {
		base, scale := float64(c.RopeBase), float64(c.RopeScale)
		if sliding(l) {
			base, scale = 10000, 0
			if c.RopeLocalBase != 0 {
				base = float64(c.RopeLocalBase)
			}
		}
		for t := range x {
			for h := range heads {
				for i := 0; i < hd/2; i++ {
					theta := float64(t) * math.Pow(base, -2*float64(i)/float64(hd))
					if m.ropeFreqs != nil {
						theta /= float64(m.ropeFreqs.Data[i])
					}
					if scale != 0 {
						theta /= scale
					}
					a, b := h*hd+2*i, h*hd+2*i+1 // llama: adjacent pairs
					if c.Architecture() != ArchLlama {
						a, b = h*hd+i, h*hd+i+hd/2 // the others: the two halves of the head
					}
					x0, x1 := x[t][a], x[t][b]
					x[t][a] = x0*math.Cos(theta) - x1*math.Sin(theta)
					x[t][b] = x0*math.Sin(theta) + x1*math.Cos(theta)
				}
			}
		}
	}
	// headNorm applies an RMSNorm with weight w to every head (hd values) of every row.
	headNorm := func(x [][]float64, w []float32) {
		for t := range x {
			for h := 0; h < len(x[t]); h += hd {
				copy(x[t][h:h+hd], norm([][]float64{x[t][h : h+hd]}, w)[0])
			}
		}
	}
	add := func(x, y [][]float64) {
		for t := range x {
			for i := range x[t] {
				x[t][i] += y[t][i]
			}
		}
	}
	x := make([][]float64, T)
	for t, tok := range tokens {
		x[t] = make([]float64, d)
		for i := range d {
			x[t][i] = float64(m.tokEmbd.Data[int(tok)*d+i])
			if gemma {
				x[t][i] *= math.Sqrt(float64(d))
			}
		}
	}
	qd := c.Heads * hd
	for l := range m.layers {
		lw := &m.layers[l]
		n1 := norm(x, lw.attnNorm.Data)
		q, k, v := adapted(n1, l, "attn_q"), adapted(n1, l, "attn_k"), adapted(n1, l, "attn_v")
		if lw.qNorm != nil {
			headNorm(q, lw.qNorm.Data)
			headNorm(k, lw.kNorm.Data)
		}
		rope(q, c.Heads, l)
		rope(k, c.KVHeads, l)
		ao := make([][]float64, T)
		for t := range T {
			ao[t] = make([]float64, qd)
			first := 0
			if sliding(l) && c.SlidingWindow > 0 {
				first = max(0, t-c.SlidingWindow)
			}
			for h := range c.Heads {
				kh := h / (c.Heads / c.KVHeads)
				s := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := first; j <= t; j++ {
					for i := range hd {
						s[j] += q[t][h*hd+i] * k[j][kh*hd+i]
					}
					s[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := first; j <= t; j++ {
					s[j] = math.Exp(s[j] - mx)
					sum += s[j]
				}
				for j := first; j <= t; j++ {
					for i := range hd {
						ao[t][h*hd+i] += s[j] / sum * v[j][kh*hd+i]
					}
				}
			}
		}
		o := adapted(ao, l, "attn_output")
		if lw.postAttnNorm != nil {
			o = norm(o, lw.postAttnNorm.Data)
		}
		add(x, o)
		n2 := norm(x, lw.ffnNorm.Data)
		g, u := adapted(n2, l, "ffn_gate"), adapted(n2, l, "ffn_up")
		for t := range g {
			for i, gv := range g[t] {
				if gemma {
					g[t][i] = 0.5 * gv * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(gv+0.044715*gv*gv*gv))) * u[t][i]
				} else {
					g[t][i] = gv / (1 + math.Exp(-gv)) * u[t][i]
				}
			}
		}
		dn := adapted(g, l, "ffn_down")
		if lw.postFFNNorm != nil {
			dn = norm(dn, lw.postFFNNorm.Data)
		}
		add(x, dn)
	}
	z := lin(norm(x, m.outNorm.Data), f64(m.output), c.Vocab)
	if sc := float64(c.FinalLogitSoftcap); sc > 0 {
		for t := range z {
			for i, v := range z[t] {
				z[t][i] = sc * math.Tanh(v/sc)
			}
		}
	}
	return z
}
