package llama

// backState holds the gradient buffers of a backward pass, reused from block to block. They are carved from
// one buffer, buf, which the loss borrows for its logits before the backward starts (pass.score): dx is
// cleared after the loss, and every other buffer is cleared or overwritten before each block reads it.
type backState struct {
	p                    *pass
	trainBase            bool
	buf                  []float32 // all the buffers below, one after the other
	dx                   []float32 // the gradient with respect to the residual stream, [n][dim]
	dh, dg, du           []float32 // [n][hidden]
	dxn, dao, dq, dk, dv []float32 // [n][dim], [n][qDim], [n][qDim], [n][kvDim], [n][kvDim]
	dqRaw, dkRaw         []float32 // before the head norms (qwen3, gemma3), [n][qDim], [n][kvDim]
	dpost                []float32 // before a post norm (gemma3), [n][dim]
	dxa                  []float32 // [n][rank]
}

// backFloats returns the floats per token of a backward's buffers (backState) for model shape c, with q and kv the
// widths of its query (qDim) and key/value (kvDim) projections and r the LoRA rank (0: no adapter).
func backFloats(c Config, q, kv, r int) int {
	v := c.Dim + 3*c.Hidden + c.Dim + 2*q + 2*kv + r
	if c.qkNorm() {
		v += q + kv
	}
	if c.gemma() {
		v += c.Dim
	}
	return v
}

func newBackState(p *pass, trainBase bool) *backState {
	c, n := p.m.Config, p.n
	q, kv, r := p.m.qDim, p.m.kvDim, 0
	if p.a != nil {
		r = p.a.Config.Rank
	}
	b := &backState{p: p, trainBase: trainBase, buf: p.alloc(n * backFloats(c, q, kv, r))}
	rest := b.buf
	take := func(k int) []float32 {
		s := rest[:k:k]
		rest = rest[k:]
		return s
	}
	b.dx = take(n * c.Dim)
	b.dh, b.dg, b.du = take(n*c.Hidden), take(n*c.Hidden), take(n*c.Hidden)
	b.dxn, b.dao, b.dq = take(n*c.Dim), take(n*q), take(n*q)
	b.dk, b.dv = take(n*kv), take(n*kv)
	if c.qkNorm() {
		b.dqRaw, b.dkRaw = take(n*q), take(n*kv)
	}
	if c.gemma() {
		b.dpost = take(n * c.Dim)
	}
	if p.a != nil {
		b.dxa = take(n * r)
	}
	return b
}

// grad returns w's gradient buffer when the base is trained, else nil.
func (b *backState) grad(w *Param) []float32 {
	if !b.trainBase {
		return nil
	}
	return w.Grad
}

// block back-propagates through block l, whose activations are la. On entry dx holds the gradient with
// respect to the block's output, on return the gradient with respect to its input; the residual connections
// make this an in-place update.
func (b *backState) block(l int, dx []float32, la *layerActs) {
	p := b.p
	m, c, n := p.m, p.m.Config, p.n
	d, kv := c.Dim, m.kvDim
	lw := &m.layers[l]
	qd, hd := m.qDim, m.headDim

	// Feed-forward: out = xmid + post_ffw(down(act(gate(n2)) ⊙ up(n2))), n2 = ffn_norm(xmid).
	clear(b.dh)
	b.linear(b.dh, b.postNorm(dx, la.fRaw, la.invPF, lw.postFFNNorm), la.h, l, 6, la)
	if c.gemma() {
		gegluBackward(b.dg, b.du, b.dh, la.g, la.u)
	} else {
		swigluBackwardVec(b.dg, b.du, b.dh, la.g, la.u)
	}
	clear(b.dxn)
	b.linear(b.dxn, b.dg, la.xn2, l, 4, la)
	b.linear(b.dxn, b.du, la.xn2, l, 5, la)
	rmsNormBackward(dx, b.grad(lw.ffnNorm), b.dxn, la.xmid, la.inv2, lw.ffnNorm.Data, n, d)

	// Attention: xmid = x + post_attn(attn_output(attention(q, k, v))).
	clear(b.dao)
	b.linear(b.dao, b.postNorm(dx, la.oRaw, la.invPA, lw.postAttnNorm), la.ao, l, 3, la)
	clear(b.dq)
	clear(b.dk)
	clear(b.dv)
	dims := p.dims(l)
	parallelFor(len(p.segs)*c.KVHeads, func(i int) {
		s, kh := p.segs[i/c.KVHeads], i%c.KVHeads
		attentionBackward(b.dq[s.off*qd:], b.dk[s.off*kv:], b.dv[s.off*kv:], b.dao[s.off*qd:],
			la.q[s.off*qd:], la.k[s.off*kv:], la.v[s.off*kv:], la.attMax[s.off*c.Heads:], la.attInv[s.off*c.Heads:],
			s.n, s.pos0, kh, dims)
	})
	if c.gemma() {
		qs := c.attnScale()
		for i := range b.dq[:n*qd] {
			b.dq[i] *= qs
		}
	}
	rt := p.ropeFor(l)
	for _, s := range p.segs {
		ropeBackward(b.dq[s.off*qd:], s.n, c.Heads, rt, s.pos0)
		ropeBackward(b.dk[s.off*kv:], s.n, c.KVHeads, rt, s.pos0)
	}
	dq, dk := b.dq, b.dk
	if lw.qNorm != nil {
		clear(b.dqRaw)
		clear(b.dkRaw)
		rmsNormBackward(b.dqRaw, b.grad(lw.qNorm), dq, la.qRaw, la.invQ, lw.qNorm.Data, n*c.Heads, hd)
		rmsNormBackward(b.dkRaw, b.grad(lw.kNorm), dk, la.kRaw, la.invK, lw.kNorm.Data, n*c.KVHeads, hd)
		dq, dk = b.dqRaw, b.dkRaw
	}
	// The biases are added before RoPE: their gradients are the column sums of dq, dk and dv.
	if lw.bq != nil && b.trainBase {
		colSums(lw.bq.Grad, dq[:n*qd])
		colSums(lw.bk.Grad, dk[:n*kv])
		colSums(lw.bv.Grad, b.dv[:n*kv])
	}
	// The first block's input gradient is only needed for the token embeddings.
	var dxn []float32
	if l > 0 || b.trainBase {
		dxn = b.dxn
		clear(dxn)
	}
	b.linear(dxn, dq, la.xn1, l, 0, la)
	b.linear(dxn, dk, la.xn1, l, 1, la)
	b.linear(dxn, b.dv, la.xn1, l, 2, la)
	if dxn != nil {
		rmsNormBackward(dx, b.grad(lw.attnNorm), dxn, la.x, la.inv1, lw.attnNorm.Data, n, d)
	}
}

// postNorm returns the gradient with respect to the input of gemma's post norm w (input raw, inverse RMS
// inv) given dy, the gradient with respect to its output; without the norm (w nil) it returns dy.
func (b *backState) postNorm(dy, raw, inv []float32, w *Param) []float32 {
	if w == nil {
		return dy
	}
	n, d := b.p.n, b.p.m.Config.Dim
	clear(b.dpost)
	rmsNormBackward(b.dpost, b.grad(w), dy, raw, inv, w.Data, n, d)
	return b.dpost
}

// linear back-propagates dy through y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ for block l's matrix i: it accumulates
// dx += dy·W + s·(dy·B)·A (skipped when dx is nil), dW += dyᵀ·x (when the base is trained),
// dB += s·dyᵀ·(x·Aᵀ) and dA += s·(dy·B)ᵀ·x.
func (b *backState) linear(dx, dy, x []float32, l, i int, la *layerActs) {
	p := b.p
	w := p.m.layers[l].linear(linearNames[i])
	in, out, n := w.Shape[0], w.Shape[1], p.n
	lp := p.a.pair(l, i)
	var r int
	if lp != nil {
		var s float32
		r, s = p.a.Config.Rank, p.a.scale
		matMulBackWScaled(lp.b.Grad, dy, la.xa[i], n, r, out, s)
		clear(b.dxa)
		matMulBackXScaled(b.dxa, dy, lp.b.Data, n, r, out, s)
		matMulBackW(lp.a.Grad, b.dxa, x, n, in, r)
	}
	if dx != nil {
		if lp != nil {
			// The projection's input gradient and its LoRA branch's in one pass over dx.
			p.m.matMulBackXLoRAW(dx, dy, w, b.dxa, lp.a.Data, n, r)
		} else {
			p.m.matMulBackXW(dx, dy, w, n)
		}
	}
	if b.trainBase {
		matMulBackW(w.Grad, dy, x, n, in, out)
	}
}

// colSums adds the sum of the rows of y (rows of len(g) values) to g.
func colSums(g, y []float32) {
	w := len(g)
	for r := 0; r+w <= len(y); r += w {
		for j, v := range y[r : r+w] {
			g[j] += v
		}
	}
}
