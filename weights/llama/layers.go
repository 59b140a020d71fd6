package llama

import (
	"math"
	"runtime"
	"slices"
	"sync"

	"github.com/fastslow/fastslow/internal/parallel"
)

// The layers of the network, each forward next to its backward. Shapes are row-major: a batch of n token rows
// of width d is a []float32 of n·d values. Forward numerics follow ggml's CPU kernels (the ones Ollama's
// llama.cpp runner uses), including where they sum in double precision.

// rmsNormForward computes y = x / sqrt(mean(x²) + eps) · w row by row, as ggml_rms_norm followed by ggml_mul,
// and stores each row's inverse RMS in inv (for the backward).
func rmsNormForward(y, inv, x, w []float32, n, d int, eps float32) {
	w = w[:d]
	parallelChunks(n, elementGrain/d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : r*d+d]
			yr := y[r*d : r*d+d]
			var sum float64
			for _, v := range xr {
				sum += float64(v * v)
			}
			mean := float32(sum / float64(d))
			s := 1 / float32(math.Sqrt(float64(mean+eps)))
			inv[r] = s
			for i, v := range xr {
				yr[i] = (v * s) * w[i]
			}
		}
	})
}

// rmsNormBackward accumulates dx and (if dw is not nil) dw for y = x·s·w with s = (mean(x²)+eps)^(-1/2):
// dx_i += s·w_i·dy_i − s³/d · x_i · Σ_j w_j·dy_j·x_j, and dw_i += Σ_rows dy_i·x_i·s.
func rmsNormBackward(dx, dw, dy, x, inv, w []float32, n, d int) {
	w = w[:d]
	parallelChunks(n, elementGrain/d, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr := x[r*d : r*d+d]
			dyr := dy[r*d : r*d+d]
			dxr := dx[r*d : r*d+d]
			s := inv[r]
			var dot float64
			for i, v := range xr {
				dot += float64(w[i] * dyr[i] * v)
			}
			c := float32(dot) * s * s * s / float32(d)
			for i, v := range xr {
				dxr[i] += s*w[i]*dyr[i] - c*v
			}
		}
	})
	if dw == nil {
		return
	}
	// Split by columns so each dw entry sums its rows in order on one goroutine.
	dw = dw[:d]
	parallelChunks(d, elementGrain/max(n, 1), func(lo, hi int) {
		for r := range n {
			xr := x[r*d+lo : r*d+hi]
			dyr := dy[r*d+lo : r*d+hi]
			s := inv[r]
			for i, v := range xr {
				dw[lo+i] += dyr[i] * v * s
			}
		}
	})
}

// ropeTable holds cos and sin of the rotation angles for positions start, start+1, ...: entry [p-start][i] is
// for the i-th rotated pair of a head, which is (2i, 2i+1) in NORMAL mode and (i, i+half) in NEOX mode.
type ropeTable struct {
	start, half int
	neox        bool
	cos, sin    []float32
}

// ropeTables returns the rotation angles of m for count positions from start: [0] for the global layers
// (every layer but gemma's sliding-window ones), [1] for the sliding-window layers (nil without them), whose
// RoPE has its own base and no scaling.
func (m *Model) ropeTables(start, count int) [2]*ropeTable {
	c := m.Config
	var factors []float32
	if m.ropeFreqs != nil {
		factors = m.ropeFreqs.Data
	}
	freqScale := float32(1)
	if c.RopeScale != 0 {
		freqScale = 1 / c.RopeScale
	}
	var t [2]*ropeTable
	t[0] = newRopeTable(start, count, m.headDim, c.RopeBase, freqScale, factors)
	t[0].neox = c.ropeNeoX()
	if c.gemma() {
		base := c.RopeLocalBase
		if base == 0 {
			base = 10000
		}
		t[1] = newRopeTable(start, count, m.headDim, base, 1, nil)
		t[1].neox = true
	}
	return t
}

// newRopeTable computes the angles theta_i = freqScale · p · base^(−2i/headDim) / factors[i] for count
// positions from start, the way ggml_rope_cache_init does without YaRN: theta starts at p and is multiplied
// by powf(base, −2/headDim) once per pair, then divided by the pair's factor and scaled, all in float32, so
// the rounding matches llama.cpp, and cosine and sine are glibc's cosf and sinf, which ggml calls.
// factors may be nil (all 1).
func newRopeTable(start, count, headDim int, base, freqScale float32, factors []float32) *ropeTable {
	half := headDim / 2
	t := &ropeTable{start: start, half: half, cos: make([]float32, count*half), sin: make([]float32, count*half)}
	scale := float32(math.Pow(float64(base), float64(float32(-2)/float32(headDim))))
	for p := range count {
		theta := float32(start + p)
		for i := range half {
			th := theta
			if factors != nil {
				th /= factors[i]
			}
			th *= freqScale
			t.cos[p*half+i] = glibcCosf(th)
			t.sin[p*half+i] = glibcSinf(th)
			theta *= scale
		}
	}
	return t
}

// pair returns the offsets of the two values rotated together as pair i of a head.
func (t *ropeTable) pair(i int) (int, int) {
	if t.neox {
		return i, i + t.half
	}
	return 2 * i, 2*i + 1
}

// ropeForward rotates, in place, each pair of every head of n rows of heads·headDim values; row r is at
// position pos0+r.
func ropeForward(x []float32, n, heads int, t *ropeTable, pos0 int) {
	hd := 2 * t.half
	for r := range n {
		cs := t.cos[(pos0+r-t.start)*t.half:][:t.half]
		sn := t.sin[(pos0+r-t.start)*t.half:][:t.half]
		for h := range heads {
			v := x[(r*heads+h)*hd:][:hd]
			for i := range t.half {
				a, b := t.pair(i)
				x0, x1 := v[a], v[b]
				v[a] = x0*cs[i] - x1*sn[i]
				v[b] = x0*sn[i] + x1*cs[i]
			}
		}
	}
}

// ropeBackward maps, in place, the gradient of rotated rows to the gradient of the unrotated ones: the
// rotation is orthogonal, so this is the rotation by −theta.
func ropeBackward(dx []float32, n, heads int, t *ropeTable, pos0 int) {
	hd := 2 * t.half
	for r := range n {
		cs := t.cos[(pos0+r-t.start)*t.half:][:t.half]
		sn := t.sin[(pos0+r-t.start)*t.half:][:t.half]
		for h := range heads {
			v := dx[(r*heads+h)*hd:][:hd]
			for i := range t.half {
				a, b := t.pair(i)
				d0, d1 := v[a], v[b]
				v[a] = d0*cs[i] + d1*sn[i]
				v[b] = -d0*sn[i] + d1*cs[i]
			}
		}
	}
}

// silu is x·σ(x), computed as ggml_silu_f32 does.
func silu(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}

// swigluForward computes h = silu(g) ⊙ u (ggml_silu, then ggml_mul).
func swigluForward(h, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h[i] = silu(g[i]) * u[i]
		}
	})
}

// swigluForwardGGML is swigluForward with the SiLU computed exactly as ggml_vec_silu_f32 compiled for SSE2:
// x/(1+e^−x) with ggmlExpf for each full group of four values of a row of width values, glibc's expf for
// the rest of the row.
func swigluForwardGGML(h, g, u []float32, width int) {
	rows := len(g) / width
	parallelChunks(rows, max(1, elementGrain/width), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			gr, ur, hr := g[r*width:(r+1)*width], u[r*width:(r+1)*width], h[r*width:(r+1)*width]
			full := width &^ 3
			for i, x := range gr[:full] {
				hr[i] = float32(x/float32(1+ggmlExpf(float32(0-x)))) * ur[i]
			}
			for i := full; i < width; i++ {
				x := gr[i]
				hr[i] = float32(x/float32(1+glibcExpf(-x))) * ur[i]
			}
		}
	})
}

// geluTanh is GELU in its tanh form, 0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²))), with ggml's float32
// constants.
func geluTanh(x float32) float32 {
	const sqrt2OverPi, coefA = 0.79788456080286535587989211986876, 0.044715
	return 0.5 * x * (1 + float32(math.Tanh(float64(sqrt2OverPi*x*(1+coefA*x*x)))))
}

// gegluForward computes h = gelu_tanh(g) ⊙ u (ggml_geglu_split) in float32.
func gegluForward(h, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			h[i] = geluTanh(g[i]) * u[i]
		}
	})
}

// gegluForwardGGML is gegluForward as ggml's CPU code computes it (GGML_GELU_FP16): the gate is rounded
// to float16 and looked up in a table of GELU values rounded to float16, except below −10 (0) and from 10
// on (the gate itself).
func gegluForwardGGML(h, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			switch x := g[i]; {
			case x <= -10:
				h[i] = 0
			case x >= 10:
				h[i] = x * u[i]
			default:
				h[i] = roundHalf(geluTanh(roundHalf(x))) * u[i]
			}
		}
	})
}

// gegluBackward computes dg = dh·u·gelu'(g) and du = dh·gelu(g) for the tanh form of GELU:
// gelu'(x) = 0.5·(1+t) + 0.5·x·(1−t²)·√(2/π)·(1 + 3·0.044715·x²), t = tanh(√(2/π)·x·(1 + 0.044715·x²)).
func gegluBackward(dg, du, dh, g, u []float32) {
	const sqrt2OverPi, coefA = 0.79788456080286535587989211986876, 0.044715
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			x := float64(g[i])
			t := math.Tanh(sqrt2OverPi * x * (1 + coefA*x*x))
			d := 0.5*(1+t) + 0.5*x*(1-t*t)*sqrt2OverPi*(1+3*coefA*x*x)
			dg[i] = dh[i] * u[i] * float32(d)
			du[i] = dh[i] * float32(0.5*x*(1+t))
		}
	})
}

// softcapForward maps every logit z to c·tanh(z/c) as Ollama's engine does (scale by 1/c, tanh, scale by
// c); c = 0 leaves them.
func softcapForward(z []float32, c float32) {
	if c <= 0 {
		return
	}
	inv := float32(1 / float64(c))
	for i, v := range z {
		z[i] = float32(math.Tanh(float64(v*inv))) * c
	}
}

// softcapBackward turns dz, the gradient with respect to the capped logits capped = c·tanh(z/c), into the
// gradient with respect to z: dz·(1 − (capped/c)²).
func softcapBackward(dz, capped []float32, c float32) {
	if c <= 0 {
		return
	}
	for i, v := range capped {
		t := v / c
		dz[i] *= 1 - t*t
	}
}

// swigluBackward computes dg = dh·u·silu'(g) and du = dh·silu(g), with silu'(g) = σ(g)·(1 + g·(1−σ(g))).
func swigluBackward(dg, du, dh, g, u []float32) {
	parallelChunks(len(g), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := g[i]
			sig := 1 / (1 + float32(math.Exp(float64(-v))))
			dg[i] = dh[i] * u[i] * sig * (1 + v*(1-sig))
			du[i] = dh[i] * v * sig
		}
	})
}

// attnDims describes the attention of one sequence: n query rows at positions pos0..pos0+n−1 attend causally
// to the keys at positions 0..pos0+n−1.
type attnDims struct {
	heads, kvHeads, headDim int
	scale                   float32
	halfProbs               bool // round the attention weights to float16 before they meet the values
	f64                     bool // ggml's portable kernels: float64 sums, glibc's expf (Precision.GGMLPortable)
	flash                   bool // ggml's CPU flash attention (Precision.FlashAttention)
	window                  int  // a query at p sees keys from p−window on (sliding-window layers); 0: all
	// cellOf, when set, gives the cell of Ollama's sliding-window cache each position is stored in; flash
	// attention visits keys in cell order, which differs from position order once the cache wraps.
	cellOf []int
}

// first returns the first key position a query at pos attends to.
func (a attnDims) first(pos int) int {
	if a.window > 0 {
		return max(0, pos-a.window)
	}
	return 0
}

// Attention runs per sequence and head as small matrix products (scores S = Q·Kᵀ, output O = P·V, and their
// transposes in the backward) on contiguous per-head copies, so it uses the same fast kernel as the
// projections. The products cover the full square, masked entries included; the mask then zeroes them,
// which costs twice the causal minimum but keeps every product dense.

// headRows copies head h's columns (width hd) of n rows with row stride stride into dst ([n][hd]).
func headRows(dst, src []float32, n, stride, h, hd int) []float32 {
	for t := range n {
		copy(dst[t*hd:(t+1)*hd], src[t*stride+h*hd:])
	}
	return dst[:n*hd]
}

// attentionForward computes causal grouped-query attention of query head h for one sequence. q is
// [n][heads·hd] (already rotated), k and v are [pos0+n][kvHeads·hd]; out receives head h's columns of
// [n][heads·hd]. For each row, rowMax and rowInv (indexed [t][heads]) receive the softmax's maximum and inverse
// sum so the backward can rebuild the probabilities exactly; both may be nil. The softmax follows
// ggml_soft_max_ext: scale, then mask, then exp(x − max), summed in double. Query head h reads key/value head
// h/(heads/kvHeads), as ggml_mul_mat broadcasts.
func attentionForward(out, rowMax, rowInv, q, k, v []float32, n, pos0, h int, a attnDims) {
	hd, qw, kw := a.headDim, a.heads*a.headDim, a.kvHeads*a.headDim
	kh := h / (a.heads / a.kvHeads)
	nk := pos0 + n
	buf := getScratch(n*hd + 2*nk*hd + n*nk + n*hd)
	defer putScratch(buf)
	qh := headRows(buf[:n*hd], q, n, qw, h, hd)
	kr := headRows(buf[n*hd:], k, nk, kw, kh, hd)
	vt := buf[n*hd+nk*hd:][:nk*hd] // V of this head, transposed: [hd][nk]
	for j := range nk {
		for i, x := range v[j*kw+kh*hd:][:hd] {
			vt[i*nk+j] = x
		}
	}
	p := buf[n*hd+2*nk*hd:][:n*nk]
	o := buf[n*hd+2*nk*hd+n*nk:][:n*hd]
	if a.flash {
		var keys []int
		for t := range n {
			keys = keys[:0]
			for j := a.first(pos0 + t); j <= pos0+t; j++ {
				keys = append(keys, j)
			}
			if a.cellOf != nil {
				slices.SortFunc(keys, func(x, y int) int { return a.cellOf[x] - a.cellOf[y] })
			}
			flashRow(out[t*qw+h*hd:][:hd], qh[t*hd:(t+1)*hd], kr, vt, nk, keys, a)
		}
		return
	}
	// Queries meet the keys in the cache's precision: both rounded to float16 with an F16 cache.
	if a.f64 {
		mulABt(p, qh, kr, n, nk, hd)
	} else {
		gemmCausal(p, qh, kr, n, nk, hd, false, bandLowerC, pos0)
	}
	for t := range n {
		row := p[t*nk : (t+1)*nk]
		lo := a.first(pos0 + t)
		clear(row[:lo])
		live := row[lo : pos0+t+1] // keys this query may see
		var mx, inv float32
		if a.f64 {
			mx = float32(math.Inf(-1))
			for j, s := range live {
				live[j] = s * a.scale
				mx = max(mx, live[j])
			}
			inv = float32(1 / softmaxSumGGML(live, mx))
			for j := range live {
				live[j] *= inv
			}
		} else {
			mx, inv = softmaxRow(live, a.scale)
		}
		if a.halfProbs {
			roundHalfAll(live)
		}
		clear(row[pos0+t+1:])
		if rowMax != nil {
			rowMax[t*a.heads+h] = mx
			rowInv[t*a.heads+h] = inv
		}
	}
	if a.f64 {
		mulABt(o, p, vt, n, hd, nk)
	} else {
		gemmCausal(o, p, vt, n, hd, nk, false, bandLowerA, pos0)
	}
	for t := range n {
		copy(out[t*qw+h*hd:][:hd], o[t*hd:(t+1)*hd])
	}
}

// flashRow computes one query row q of one head as ggml's CPU flash_attn_ext (ggml-cpu/ops.cpp,
// ggml_compute_forward_flash_attn_ext_f16_one_chunk) does with an F16 cache, the attention of Ollama
// v0.17.4's runners: the keys at the given positions (k: [nk][hd], vt: V transposed, [hd][nk]) one at a
// time in the order given (the cache's cell order), each score an F16 dot product summed in float64 and scaled, an online softmax with glibc's expf,
// and the weighted values accumulated in float16 (ggml_vec_mad_f16, ggml_vec_scale_f16); the sum of
// weights is float32 and the result is the float16 accumulator times its inverse. Without an F16 cache
// (a.halfProbs false) the accumulator is float32.
func flashRow(out, q, k, vt []float32, nk int, keys []int, a attnDims) {
	hd := a.headDim
	acc := out[:hd]
	clear(acc)
	round := func(x float32) float32 { return x }
	if a.halfProbs {
		round = roundHalf
	}
	sum, mx := float32(0), float32(math.Inf(-1))
	for _, j := range keys {
		s := float32(dot64(q, k[j*hd:(j+1)*hd]) * a.scale)
		ms, vs := float32(1), float32(1)
		if s > mx {
			old := mx
			mx = s
			ms = glibcExpf(old - mx)
			for i := range acc {
				acc[i] = round(float32(acc[i] * ms))
			}
		} else {
			vs = glibcExpf(s - mx)
		}
		for i := range acc {
			acc[i] = round(float32(acc[i] + float32(vt[i*nk+j]*vs)))
		}
		sum = float32(float32(sum*ms) + vs)
	}
	inv := float32(0)
	if sum != 0 {
		inv = 1 / sum
	}
	for i := range acc {
		acc[i] *= inv
	}
}

// softmaxSumGGML replaces each x of row by e^(x−mx) and returns their sum as ggml_vec_soft_max_f32 compiled
// for SSE2 computes them over a row of the runner's (a multiple of four cells, the masked ones 0): ggmlExpf
// on groups of four, each group summed as (e0+e1)+(e2+e3) in float32 and added to a float64 total.
func softmaxSumGGML(row []float32, mx float32) float64 {
	var sum float64
	for g := 0; g < len(row); g += 4 {
		var e [4]float32
		for i := range min(4, len(row)-g) {
			e[i] = ggmlExpf(row[g+i] - mx)
			row[g+i] = e[i]
		}
		sum += float64(float32(float32(e[0]+e[1]) + float32(e[2]+e[3])))
	}
	return sum
}

// attentionBackward accumulates dq, dk and dv for attentionForward of every query head that shares key/value
// head kh, given dOut, rebuilding each probability row from q, k and the saved max and inverse sum. With
// P = softmax(S·scale): dV += Pᵀ·dOut, dP = dOut·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ += scale·dS·K,
// dK += scale·dSᵀ·Q. Grouping by key/value head lets one goroutine own the dk and dv columns it writes.
func attentionBackward(dq, dk, dv, dOut, q, k, v, rowMax, rowInv []float32, n, pos0, kh int, a attnDims) {
	hd, qw, kw := a.headDim, a.heads*a.headDim, a.kvHeads*a.headDim
	group := a.heads / a.kvHeads
	nk := pos0 + n
	buf := getScratch(5*nk*hd + 5*n*hd + 3*n*nk)
	defer putScratch(buf)
	take := func(size int) []float32 {
		s := buf[:size]
		buf = buf[size:]
		return s
	}
	kr := headRows(take(nk*hd), k, nk, kw, kh, hd)
	vr := headRows(take(nk*hd), v, nk, kw, kh, hd)
	kt := take(hd * nk)
	transpose(kt, kr, nk, hd)
	dkh, dvh := take(nk*hd), take(nk*hd)
	clear(dkh)
	clear(dvh)
	qh, qt, do, dOt, dqh := take(n*hd), take(hd*n), take(n*hd), take(hd*n), take(n*hd)
	p, dp, t2 := take(n*nk), take(n*nk), take(nk*n)
	for h := kh * group; h < (kh+1)*group; h++ {
		headRows(qh, q, n, qw, h, hd)
		headRows(do, dOut, n, qw, h, hd)
		gemmCausal(p, qh, kr, n, nk, hd, false, bandLowerC, pos0)
		gemmCausal(dp, do, vr, n, nk, hd, false, bandLowerC, pos0)
		for t := range n {
			prow, dprow := p[t*nk:(t+1)*nk], dp[t*nk:(t+1)*nk]
			mx, inv := rowMax[t*a.heads+h], rowInv[t*a.heads+h]
			lo, live := a.first(pos0+t), pos0+t+1
			var rowDot float32 // Σ_j P_j·dP_j
			softmaxRebuild(prow[lo:live], a.scale, mx, inv)
			clear(prow[:lo])
			for j := lo; j < live; j++ {
				rowDot += prow[j] * dprow[j]
			}
			clear(prow[live:])
			for j := lo; j < live; j++ {
				dprow[j] = prow[j] * (dprow[j] - rowDot) * a.scale // now dS
			}
			clear(dprow[:lo])
			clear(dprow[live:])
		}
		// dV += Pᵀ·dO, as (Pᵀ)·(dOᵀ)ᵀ.
		transpose(t2, p, n, nk)
		transpose(dOt, do, n, hd)
		gemmCausal(dvh, t2, dOt, nk, hd, n, true, bandUpperA, pos0)
		// dK += dSᵀ·Q.
		transpose(t2, dp, n, nk)
		transpose(qt, qh, n, hd)
		gemmCausal(dkh, t2, qt, nk, hd, n, true, bandUpperA, pos0)
		// dQ = dS·K.
		gemmCausal(dqh, dp, kt, n, hd, nk, false, bandLowerA, pos0)
		for t := range n {
			row := dq[t*qw+h*hd:][:hd]
			for i, x := range dqh[t*hd : (t+1)*hd] {
				row[i] += x
			}
		}
	}
	for j := range nk {
		rk, rv := dk[j*kw+kh*hd:][:hd], dv[j*kw+kh*hd:][:hd]
		for i := range hd {
			rk[i] += dkh[j*hd+i]
			rv[i] += dvh[j*hd+i]
		}
	}
}

// crossEntropy returns −log softmax(z)[target] in float64 and, if grad is not nil, writes its gradient
// softmax(z) − onehot(target) into grad (which may alias z).
func crossEntropy(grad, z []float32, target int) float64 {
	mx := z[0]
	for _, v := range z {
		mx = max(mx, v)
	}
	zt := z[target] // before grad, which may alias z, overwrites it
	var sum float64
	if grad == nil {
		for _, v := range z {
			sum += math.Exp(float64(v - mx))
		}
	} else {
		for i, v := range z {
			e := math.Exp(float64(v - mx))
			grad[i] = float32(e)
			sum += e
		}
		inv := float32(1 / sum)
		for i := range grad[:len(z)] {
			grad[i] *= inv
		}
		grad[target] -= 1
	}
	return math.Log(sum) + float64(mx) - float64(zt)
}

// elementGrain is the number of element-wise operations below which splitting work over goroutines does not
// pay. (A variable so tests can force the parallel paths on tiny inputs.)
var elementGrain = 1 << 14

// parallelChunks calls f on contiguous parts [lo, hi) of [0, n), one per GOMAXPROCS worker, when each part
// gets at least grain items; otherwise it calls f(0, n) directly.
func parallelChunks(n, grain int, f func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(grain, 1))
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += step {
		hi := min(lo+step, n)
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// parallelFor runs f(0..n−1) on up to GOMAXPROCS goroutines, handing out indices one at a time so uneven
// items (long and short sequences) balance.
func parallelFor(n int, f func(i int)) { parallel.For(n, runtime.GOMAXPROCS(0), f) }
