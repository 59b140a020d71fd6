package llama

import (
	"context"
	"errors"
	"fmt"
)

// segment is one sequence inside a packed batch: rows [off, off+n) of every activation matrix, at positions
// pos0, pos0+1, .... Packing all sequences of a batch into one matrix makes every projection a single large
// matrix product; only attention looks at sequence boundaries.
type segment struct{ off, n, pos0 int }

// kvCache holds the rotated keys and the values of one sequence, per block, for incremental decoding.
type kvCache struct {
	k, v [][]float32 // [layer][position·kvDim]
	n    int         // positions filled

	// With flash attention on a model with sliding-window layers, the cells of Ollama's sliding-window
	// cache (kvcache.Causal with a window, one sequence): cellOf[p] is the cell position p went to, cells[i]
	// the position in cell i (−1 when free). See place.
	cellOf, cells []int
}

// place records where Ollama's sliding-window cache (window w, memory w: one sequence) stores positions
// pos0..pos0+n−1 arriving as one batch: first it frees the cells of positions below pos0−w, then it puts
// each new position in the lowest free cell. Once generation passes the window, new positions reuse freed
// cells at the start, so cell order stops being position order.
func (c *kvCache) place(pos0, n, w int) {
	for i, p := range c.cells {
		if p >= 0 && p < pos0-w {
			c.cells[i] = -1
		}
	}
	next := 0
	for range n {
		for next < len(c.cells) && c.cells[next] >= 0 {
			next++
		}
		if next == len(c.cells) {
			c.cells = append(c.cells, -1)
		}
		c.cells[next] = len(c.cellOf)
		c.cellOf = append(c.cellOf, next)
	}
}

// layerActs are the activations of one block over a packed batch, the ones its backward needs.
type layerActs struct {
	x          []float32    // block input, [n][dim]
	inv1, inv2 []float32    // inverse RMS of x and of xmid, [n]
	xn1        []float32    // attention norm output, [n][dim]
	q, k, v    []float32    // rotated queries and keys, values: [n][qDim], [n][kvDim], [n][kvDim]
	qRaw, kRaw []float32    // queries and keys before their head norms (qwen3, gemma3; kept for the backward)
	invQ, invK []float32    // inverse RMS of each query and key head, [n][heads], [n][kvHeads]
	attMax     []float32    // softmax maxima, [n][heads]
	attInv     []float32    // softmax inverse sums, [n][heads]
	ao         []float32    // attention output before attn_output, [n][qDim]
	oRaw, fRaw []float32    // attn_output and ffn_down results before the post norms (gemma3, kept), [n][dim]
	invPA      []float32    // inverse RMS of oRaw, [n]
	invPF      []float32    // inverse RMS of fRaw, [n]
	xmid       []float32    // residual after attention, [n][dim]
	xn2        []float32    // ffn norm output, [n][dim]
	g, u, h    []float32    // gate, up and act(gate)⊙up, [n][hidden]
	xa         [7][]float32 // A·x of each LoRA target (by linearNames index), [n][rank]
	out        []float32    // the block's output when activations are kept, [n][dim]
	kept       bool         // keep what the backward needs (else the residual is updated in place)
}

// pass is one forward (and possibly backward) evaluation over a packed batch.
type pass struct {
	m         *Model
	a         *Adapter
	n         int           // rows in the batch
	segs      []segment     // the sequences
	keep      bool          // keep what the backward needs: every block's activations, or with recompute its input
	recompute bool          // keep only each block's input (inputs); the backward recomputes the rest
	inputs    [][]float32   // with recompute, the input of every block, [layer][n][dim]
	ws        *Workspace    // where the buffers come from (nil: allocated)
	cache     *kvCache      // with one segment: read and extend this cache
	half      Precision     // float16 rounding to emulate (inference only)
	rope      [2]*ropeTable // global and sliding-window (local) layers' angles; [1] is nil without sliding layers
	acts      []layerActs
	tmp       []float32 // [n][max(dim, hidden)] scratch for projection outputs

	xL, invF, xnF []float32 // final residual, its inverse RMS, the output norm's result
}

// ropeFor returns the angles of block l.
func (p *pass) ropeFor(l int) *ropeTable {
	if p.m.Config.SlidingLayer(l) {
		return p.rope[1]
	}
	return p.rope[0]
}

// dims returns the attention shape of block l.
func (p *pass) dims(l int) attnDims {
	c := p.m.Config
	a := attnDims{heads: c.Heads, kvHeads: c.KVHeads, headDim: p.m.headDim, scale: c.attnScale(),
		halfProbs: p.half.KVCacheF16, f64: p.half.GGMLPortable, flash: p.half.FlashAttention}
	if c.gemma() {
		a.scale = 1 // the queries are scaled before attention
	}
	if c.SlidingLayer(l) {
		a.window = c.SlidingWindow
		if a.flash && p.cache != nil && p.cache.cellOf != nil {
			a.cellOf = p.cache.cellOf
		}
	}
	return a
}

// newActs returns the activations of one block for n rows: those the backward needs when keep is set, else
// only what the forward itself uses (its residual is then updated in place).
func (p *pass) newActs(keep bool) layerActs {
	c, n := p.m.Config, p.n
	d, q, kv, f := c.Dim, p.m.qDim, p.m.kvDim, c.Hidden
	la := layerActs{
		inv1: p.alloc(n), inv2: p.alloc(n),
		xn1: p.alloc(n * d), q: p.alloc(n * q), k: p.alloc(n * kv), v: p.alloc(n * kv),
		ao: p.alloc(n * q), xn2: p.alloc(n * d),
		g: p.alloc(n * f), u: p.alloc(n * f), h: p.alloc(n * f),
		kept: keep,
	}
	if c.qkNorm() {
		la.invQ, la.invK = p.alloc(n*c.Heads), p.alloc(n*c.KVHeads)
	}
	if c.gemma() {
		la.invPA, la.invPF = p.alloc(n), p.alloc(n)
	}
	if p.a != nil {
		for i := range linearNames {
			if p.a.targets(i) {
				la.xa[i] = p.alloc(n * p.a.Config.Rank)
			}
		}
	}
	if keep {
		la.attMax = p.alloc(n * c.Heads)
		la.attInv = p.alloc(n * c.Heads)
		if c.qkNorm() {
			la.qRaw, la.kRaw = p.alloc(n*q), p.alloc(n*kv)
		}
		if c.gemma() {
			la.oRaw, la.fRaw = p.alloc(n*d), p.alloc(n*d)
		}
		la.xmid, la.out = p.alloc(n*d), p.alloc(n*d)
	}
	return la
}

// run computes the forward pass of tokens (the packed rows of p.segs) up to the output norm, leaving the
// normalized final hidden states in p.xnF.
func (p *pass) run(ctx context.Context, tokens []int32) error {
	m := p.m
	c := m.Config
	d := c.Dim
	p.tmp = p.alloc(p.n * max(d, c.Hidden))
	x := p.alloc(p.n * d)
	es := c.embedScale()
	for i, t := range tokens {
		row := x[i*d : (i+1)*d]
		m.embedRow(row, int(t))
		if es != 1 {
			for j := range row {
				row[j] *= es
			}
		}
	}
	keepAll := p.keep && !p.recompute
	var shared layerActs
	if keepAll {
		p.acts = make([]layerActs, c.Layers)
	} else {
		shared = p.newActs(false)
	}
	if p.recompute {
		p.inputs = make([][]float32, c.Layers)
	}
	for l := range m.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		la := &shared
		if keepAll {
			p.acts[l] = p.newActs(true)
			la = &p.acts[l]
		}
		if p.recompute {
			p.inputs[l] = p.alloc(p.n * d)
			copy(p.inputs[l], x)
		}
		la.x = x
		x = p.block(l, la)
	}
	p.xL = x
	p.invF = p.alloc(p.n)
	p.xnF = p.alloc(p.n * d)
	rmsNormForward(p.xnF, p.invF, x, m.outNorm.Data, p.n, d, c.NormEps)
	return nil
}

// block runs transformer block l on la.x and returns its output:
//
//	xmid = x + post_attn(attn_output(attention(q, k, v))),    n1 = attn_norm(x)
//	out  = xmid + post_ffw(ffn_down(act(ffn_gate(n2)) ⊙ ffn_up(n2))), n2 = ffn_norm(xmid)
//
// with q = rope(qnorm(attn_q(n1))) (times 1/√HeadDim on gemma), k = rope(knorm(attn_k(n1))), v = attn_v(n1),
// act SiLU or (gemma) GELU-tanh; the head norms (qwen3, gemma3) and the post norms (gemma3) are identities
// where the architecture has none. When activations are not kept, the residual is updated in place.
func (p *pass) block(l int, la *layerActs) []float32 {
	m, c, n := p.m, p.m.Config, p.n
	d, qd, kv, f, hd := c.Dim, m.qDim, m.kvDim, c.Hidden, m.headDim
	lw := &m.layers[l]

	rmsNormForward(la.xn1, la.inv1, la.x, lw.attnNorm.Data, n, d, c.NormEps)
	qDst, kDst := la.q, la.k
	if la.qRaw != nil {
		qDst, kDst = la.qRaw, la.kRaw
	}
	p.linear(qDst, la.xn1, l, 0, la)
	p.linear(kDst, la.xn1, l, 1, la)
	p.linear(la.v, la.xn1, l, 2, la)
	if lw.qNorm != nil {
		// One RMSNorm per head (rows of headDim values); in place when the raw values are not kept.
		rmsNormForward(la.q, la.invQ, qDst, lw.qNorm.Data, n*c.Heads, hd, c.NormEps)
		rmsNormForward(la.k, la.invK, kDst, lw.kNorm.Data, n*c.KVHeads, hd, c.NormEps)
	}
	rt := p.ropeFor(l)
	for _, s := range p.segs {
		ropeForward(la.q[s.off*qd:], s.n, c.Heads, rt, s.pos0)
		ropeForward(la.k[s.off*kv:], s.n, c.KVHeads, rt, s.pos0)
	}
	if c.gemma() {
		qs := c.attnScale()
		for i := range la.q[:n*qd] {
			la.q[i] *= qs
		}
	}
	if p.half.KVCacheF16 {
		// The cache stores keys and values as float16, and ggml_mul_mat converts the queries to
		// float16 to multiply them with it. None of the three is used elsewhere.
		roundHalfAll(la.q[:n*qd])
		roundHalfAll(la.k[:n*kv])
		roundHalfAll(la.v[:n*kv])
	}
	if p.cache != nil {
		s := p.segs[0]
		copy(p.cache.k[l][s.pos0*kv:], la.k[:s.n*kv])
		copy(p.cache.v[l][s.pos0*kv:], la.v[:s.n*kv])
	}
	// keys returns the keys and values a segment attends to: its own rows, or the whole cache.
	keys := func(s segment) (ks, vs []float32) {
		if p.cache != nil {
			return p.cache.k[l][:(s.pos0+s.n)*kv], p.cache.v[l][:(s.pos0+s.n)*kv]
		}
		return la.k[s.off*kv : (s.off+s.n)*kv], la.v[s.off*kv : (s.off+s.n)*kv]
	}
	dims := p.dims(l)
	parallelFor(len(p.segs)*c.Heads, func(i int) {
		s, h := p.segs[i/c.Heads], i%c.Heads
		ks, vs := keys(s)
		var mx, inv []float32
		if la.attMax != nil {
			mx, inv = la.attMax[s.off*c.Heads:], la.attInv[s.off*c.Heads:]
		}
		attentionForward(la.ao[s.off*qd:], mx, inv, la.q[s.off*qd:], ks, vs, s.n, s.pos0, h, dims)
	})

	o := p.tmp[:n*d]
	p.linear(o, la.ao, l, 3, la)
	p.postNorm(o, la.oRaw, la.invPA, lw.postAttnNorm)
	if !la.kept {
		la.xmid = la.x
	}
	for i, v := range la.x {
		la.xmid[i] = v + o[i]
	}

	rmsNormForward(la.xn2, la.inv2, la.xmid, lw.ffnNorm.Data, n, d, c.NormEps)
	p.linear(la.g, la.xn2, l, 4, la)
	p.linear(la.u, la.xn2, l, 5, la)
	switch {
	case c.gemma() && p.half.GGMLPortable:
		gegluForwardGGML(la.h[:n*f], la.g[:n*f], la.u[:n*f])
	case c.gemma():
		gegluForward(la.h[:n*f], la.g[:n*f], la.u[:n*f])
	case p.half.GGMLPortable:
		swigluForwardGGML(la.h[:n*f], la.g[:n*f], la.u[:n*f], f)
	default:
		swigluForwardVec(la.h[:n*f], la.g[:n*f], la.u[:n*f])
	}
	p.linear(o, la.h, l, 6, la)
	p.postNorm(o, la.fRaw, la.invPF, lw.postFFNNorm)
	out := la.xmid
	if la.kept {
		out = la.out
	}
	for i, v := range la.xmid {
		out[i] = v + o[i]
	}
	return out
}

// postNorm applies gemma's norm after attention or feed-forward to o in place, keeping the input in raw
// (when not nil) and the inverse RMS in inv; without the norm (w nil) it does nothing.
func (p *pass) postNorm(o, raw, inv []float32, w *Param) {
	if w == nil {
		return
	}
	if raw != nil {
		copy(raw, o)
	}
	rmsNormForward(o, inv, o, w.Data, p.n, p.m.Config.Dim, p.m.Config.NormEps)
}

// linear computes y = x·Wᵀ for block l's matrix i (of linearNames), plus Scale·(x·Aᵀ)·Bᵀ when the adapter
// targets it and plus the bias when the matrix has one, in llama.cpp's order (the LoRA term is scaled, then
// added; the bias comes last).
func (p *pass) linear(y, x []float32, l, i int, la *layerActs) {
	w := p.m.layers[l].linear(linearNames[i])
	in, out := w.Shape[0], w.Shape[1]
	lp := p.a.pair(l, i)
	var xa []float32
	if lp != nil {
		r := p.a.Config.Rank
		xa = la.xa[i]
		p.mulF32(xa, x, lp.a.Data, p.n, in, r)
	}
	switch {
	case lp != nil && !p.half.F16Weights && !p.half.GGMLPortable && (!p.half.Quantized || p.m.quant[w] == nil) &&
		p.int8Matrix(w) == nil:
		// Plain float32: the projection and its LoRA branch in one pass over y.
		p.m.matMulLoRAW(y, x, w, xa, lp.b.Data, p.n, p.a.Config.Rank, p.a.scale)
	case lp != nil:
		p.mul(y, x, w, p.n)
		t := getScratch(p.n * out)
		p.mulF32(t, xa, lp.b.Data, p.n, p.a.Config.Rank, out)
		s := p.a.scale
		for j, v := range t {
			y[j] += s * v
		}
		putScratch(t)
	default:
		p.mul(y, x, w, p.n)
	}
	// llama.cpp adds the bias to the adapted product (ggml_add after llm_build_lora_mm).
	if b := p.m.layers[l].bias(i); b != nil {
		addRows(y[:p.n*out], b.Data)
	}
}

// addRows adds b to every row of y (rows of len(b) values).
func addRows(y, b []float32) {
	w := len(b)
	for r := 0; r+w <= len(y); r += w {
		row := y[r : r+w]
		for j, v := range b {
			row[j] += v
		}
	}
}

// Logits runs the full causal forward over tokens and returns the next-token logits of every position,
// [len(tokens)][Vocab] row-major. a may be nil.
func (m *Model) Logits(tokens []int32, a *Adapter) ([]float32, error) {
	p, err := m.newPass([][]int32{tokens}, a, false)
	if err != nil {
		return nil, fmt.Errorf("llama: logits: %w", err)
	}
	p.half = m.Precision
	if err := p.run(context.Background(), tokens); err != nil {
		return nil, fmt.Errorf("llama: logits: %w", err)
	}
	c := m.Config
	logits := make([]float32, p.n*c.Vocab)
	p.output(logits, p.xnF, p.n)
	return logits, nil
}

// Hidden runs the full causal forward over tokens and returns the final hidden states after the output norm,
// [len(tokens)][Dim] row-major: what llama.cpp exposes as embeddings ("result_norm") and Ollama's embedding
// endpoints return (normalized to unit length) for the last token. a may be nil.
func (m *Model) Hidden(tokens []int32, a *Adapter) ([]float32, error) {
	p, err := m.newPass([][]int32{tokens}, a, false)
	if err != nil {
		return nil, fmt.Errorf("llama: hidden: %w", err)
	}
	p.half = m.Precision
	if err := p.run(context.Background(), tokens); err != nil {
		return nil, fmt.Errorf("llama: hidden: %w", err)
	}
	return p.xnF, nil
}

// mul computes y = x·Wᵀ for n rows of x and a base matrix w as the runner does under p.half: through w's
// stored form (Precision.Quantized), with float16 inputs (F16Weights), in float64 sums (GGMLPortable), or
// as a plain float32 product.
func (p *pass) mul(y, x []float32, w *Param, n int) {
	if p.half.Quantized {
		if q := p.m.quant[w]; q != nil {
			q.mul(y, x, n, p.half.GGMLPortable)
			return
		}
	}
	if q := p.int8Matrix(w); q != nil && q.mulInt8(y, x, n) {
		return
	}
	in := w.Shape[0]
	if p.half.F16Weights {
		xh := getScratch(n * in)
		copy(xh, x[:n*in])
		roundHalfAll(xh)
		x = xh
		defer putScratch(xh)
	}
	if w == p.m.output && !p.half.GGMLPortable {
		p.m.outputProductW(y, x, n) // without packing the whole vocabulary at once
		return
	}
	p.mulW(y, x, w, n)
}

// mulW is mulF32 with the base matrix w, kept encoded or not.
func (p *pass) mulW(y, x []float32, w *Param, n int) {
	if p.half.GGMLPortable {
		d, release := p.m.weightData(w)
		mulF64(y, x, d, n, w.Shape[0], w.Shape[1])
		release()
		return
	}
	p.m.matMulW(y, x, w, n)
}

// mulF32 is a float32 matrix product, y = x·Wᵀ, summed as Precision.GGMLPortable asks.
func (p *pass) mulF32(y, x, w []float32, n, in, out int) {
	if p.half.GGMLPortable {
		mulF64(y, x, w, n, in, out)
		return
	}
	matMul(y, x, w, n, in, out)
}

// output computes the logits of n rows of normalized final states x, as the runner does.
func (p *pass) output(logits, x []float32, n int) {
	p.mul(logits, x, p.m.output, n)
	softcapForward(logits[:n*p.m.Config.Vocab], p.m.Config.FinalLogitSoftcap)
}

// newPass checks the sequences and the adapter and lays the sequences out as one packed batch.
func (m *Model) newPass(seqs [][]int32, a *Adapter, keep bool) (*pass, error) {
	if err := a.check(m); err != nil {
		return nil, err
	}
	p := &pass{m: m, a: a, keep: keep}
	longest := 0
	for i, s := range seqs {
		if len(s) == 0 {
			return nil, fmt.Errorf("sequence %d is empty", i)
		}
		if len(s) > m.Config.ContextLength {
			return nil, fmt.Errorf("sequence %d has %d tokens, context length is %d", i, len(s), m.Config.ContextLength)
		}
		if err := m.checkTokens(s); err != nil {
			return nil, fmt.Errorf("sequence %d: %w", i, err)
		}
		p.segs = append(p.segs, segment{off: p.n, n: len(s)})
		p.n += len(s)
		longest = max(longest, len(s))
	}
	if p.n == 0 {
		return nil, errors.New("no tokens")
	}
	p.rope = m.ropeTables(0, longest)
	return p, nil
}

// LogLikelihood returns the sum over the completion's tokens of log p(token | everything before it), and
// the number of tokens scored. The prompt must not be empty (the first completion token needs a context).
func (m *Model) LogLikelihood(prompt, completion []int32, a *Adapter) (sum float64, n int, err error) {
	if len(prompt) == 0 {
		return 0, 0, errors.New("llama: log likelihood: empty prompt")
	}
	if len(completion) == 0 {
		return 0, 0, nil
	}
	tokens := append(append(make([]int32, 0, len(prompt)+len(completion)), prompt...), completion...)
	p, err := m.newPass([][]int32{tokens}, a, false)
	if err != nil {
		return 0, 0, fmt.Errorf("llama: log likelihood: %w", err)
	}
	p.half = m.Precision
	if err := p.run(context.Background(), tokens); err != nil {
		return 0, 0, fmt.Errorf("llama: log likelihood: %w", err)
	}
	rows := make([]int, len(completion))
	targets := make([]int32, len(completion))
	for i := range completion {
		rows[i] = len(prompt) - 1 + i
		targets[i] = completion[i]
	}
	loss := p.score(rows, targets, nil, false, nil)
	return -loss, len(completion), nil
}

// scoreChunk returns the rows per loss chunk for scoring rows rows of perRow floats of buffers each, given
// the Workspace's LossChunk setting (0: none) and spare floats that score may borrow, and whether the
// chunk's buffers fit in the spare floats. Without a setting the chunk is DefaultLossChunk, or more when
// more fit in the spare floats: then as many as fit, evened out over the chunks the rows need.
func scoreChunk(setting, rows, perRow, spare int) (chunk int, borrow bool) {
	chunk = DefaultLossChunk
	if setting > 0 {
		chunk = setting
	} else if fit := spare / perRow; fit > chunk && rows > 0 {
		chunks := (rows + fit - 1) / fit
		chunk = (rows + chunks - 1) / chunks
	}
	return chunk, min(chunk, rows)*perRow <= spare
}

// score returns Σ −log softmax(output(xnF[row]))[target] over the given rows. When dxnF is not nil it also
// accumulates the loss gradient with respect to xnF into dxnF and, if trainOut, into the output matrix's Grad.
//
// The rows are scored a chunk at a time (lossChunk). spare is memory the caller does not need until score
// returns (the backward's buffers): when a chunk's buffers fit in it they are carved from it instead of the
// workspace, and without a LossChunk setting the chunk grows to what fits, in chunks of equal size. Each
// chunk decodes an encoded output matrix twice (logits and input gradient), so fewer, larger chunks decode
// it fewer times at no cost in memory. The loss does not depend on the chunking (it is summed in row order).
func (p *pass) score(rows []int, targets []int32, dxnF []float32, trainOut bool, spare []float32) float64 {
	m := p.m
	d, vocab := m.Config.Dim, m.Config.Vocab
	w := m.output
	var loss float64
	sc := m.Config.FinalLogitSoftcap
	perRow := 2*d + vocab // a row's input, logits and input gradient
	if sc > 0 && dxnF != nil {
		perRow += vocab // the capped logits, for the backward through the cap
	}
	lossChunk, borrow := scoreChunk(p.ws.lossChunkSetting(), len(rows), perRow, len(spare))
	chunk := min(lossChunk, len(rows))
	take := p.alloc
	if borrow {
		take = func(n int) []float32 { // not cleared: each chunk writes what it reads of these first
			s := spare[:n:n]
			spare = spare[n:]
			return s
		}
	}
	xs := take(chunk * d)
	logits := take(chunk * vocab)
	dxs := take(len(xs))
	rowLoss := make([]float64, chunk)
	var capped []float32 // the capped logits, for the backward through the cap
	if sc > 0 && dxnF != nil {
		capped = take(len(logits))
	}
	for c0 := 0; c0 < len(rows); c0 += lossChunk {
		c1 := min(c0+lossChunk, len(rows))
		k := c1 - c0
		for i := range k {
			copy(xs[i*d:(i+1)*d], p.xnF[rows[c0+i]*d:])
		}
		z := logits[:k*vocab]
		if dxnF == nil {
			p.mul(z, xs[:k*d], w, k) // inference: as the runner computes
		} else {
			m.outputProductW(z, xs[:k*d], k)
		}
		softcapForward(z, sc)
		if sc > 0 && dxnF != nil {
			copy(capped[:k*vocab], z)
		}
		parallelChunks(k, elementGrain/vocab, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				zi := z[i*vocab : (i+1)*vocab]
				var grad []float32
				if dxnF != nil {
					grad = zi
				}
				rowLoss[i] = crossEntropyVec(grad, zi, int(targets[c0+i]))
			}
		})
		for _, l := range rowLoss[:k] {
			loss += l // in row order, whatever the split
		}
		if dxnF == nil {
			continue
		}
		if capped != nil {
			softcapBackward(z, capped[:k*vocab], sc)
		}
		clear(dxs[:k*d])
		m.outputBackXW(dxs[:k*d], z, k)
		if trainOut {
			matMulBackW(w.Grad, z, xs[:k*d], k, d, vocab)
		}
		for i := range k {
			row := dxnF[rows[c0+i]*d:][:d]
			for j, v := range dxs[i*d : (i+1)*d] {
				row[j] += v
			}
		}
	}
	return loss
}
