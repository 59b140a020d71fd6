package llama

// Products in ggml's order (Precision.GGMLPortable). ggml's portable vec_dot_f32 and vec_dot_f16 multiply in
// float32 (exact for float16 operands) and add the products in float64 in index order; the result is
// rounded to float32 once. The conversions below keep the compiler from fusing the multiply into the add.

// dot64 returns Σ x[i]·w[i] as ggml's portable vec_dot_f32 computes it.
func dot64(x, w []float32) float32 {
	w = w[:len(x)]
	var s float64
	for i, v := range x {
		s += float64(float32(v * w[i]))
	}
	return float32(s)
}

// mulF64 computes y = x·Wᵀ (x: t rows of in values, W: out rows of in values) with dot64, in parallel over
// the outputs.
func mulF64(y, x, w []float32, t, in, out int) {
	parallelChunks(out, max(1, elementGrain/(in*max(t, 1))), func(lo, hi int) {
		for r := range t {
			xr := x[r*in : (r+1)*in]
			yr := y[r*out : (r+1)*out]
			for o := lo; o < hi; o++ {
				yr[o] = dot64(xr, w[o*in:(o+1)*in])
			}
		}
	})
}

// mulABt computes c = a·bᵀ for a (m rows of k) and b (n rows of k) with dot64: gemm(c, a, b, m, n, k, false)
// in ggml's order.
func mulABt(c, a, b []float32, m, n, k int) {
	for i := range m {
		ai := a[i*k : (i+1)*k]
		for j := range n {
			c[i*n+j] = dot64(ai, b[j*k:(j+1)*k])
		}
	}
}
