package llama

// The output layer's matrix is the largest of the model (vocabulary × dim: 1 GB of float32 at a 128k
// vocabulary and dim 2048), and a packed matrix product copies its whole second operand into scratch
// memory first. Products with it therefore run over blocks of vocabulary rows, so the copy is at most
// outBlockFloats values.

// outBlockFloats bounds the values of the output matrix one product packs (a variable so tests can force
// several blocks on tiny models).
var outBlockFloats = 1 << 24

// outBlockRows returns the vocabulary rows of one block of the output matrix at width d.
func outBlockRows(d int) int { return max(64, outBlockFloats/d&^63) }

// outputProduct computes z = x·Wᵀ for k rows x of width d and the output matrix w ([vocab][d]), block by
// block of vocabulary rows. Each logit is summed as by one whole product: blocks split the columns of z,
// not its sums.
func outputProduct(z, x, w []float32, k, d, vocab int) {
	nb := outBlockRows(d)
	if k < gemvRows || vocab <= nb {
		matMul(z, x, w, k, d, vocab)
		return
	}
	for v0 := 0; v0 < vocab; v0 += nb {
		v1 := min(v0+nb, vocab)
		sgemm(k, v1-v0, d, 1, x, d, false, w[v0*d:v1*d], d, true, false, z[v0:], vocab, true)
	}
}

// outputBackX accumulates the input gradient of outputProduct, dx[k][d] += dz[k][vocab]·W, block by block
// of vocabulary rows (the sums over the vocabulary are split at block boundaries, which changes their
// rounding but not their value).
func outputBackX(dx, dz, w []float32, k, d, vocab int) {
	nb := outBlockRows(d)
	if vocab <= nb {
		matMulBackX(dx, dz, w, k, d, vocab)
		return
	}
	for v0 := 0; v0 < vocab; v0 += nb {
		v1 := min(v0+nb, vocab)
		sgemm(k, d, v1-v0, 1, dz[v0:], vocab, false, w[v0*d:v1*d], d, false, true, dx, d, true)
	}
}
