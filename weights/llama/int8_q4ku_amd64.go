//go:build amd64 && !purego

package llama

// int8DotQ4KU is an int8KKernel of Q4_K weights (AVX2) that, like int8DotQ6K, unpacks the weight row once per
// call and then multiplies it with the activation rows four at a time (then one at a time): for r < nx,
// y[r·ystride] = the dot of the Q4_K row w (nb blocks of 144 bytes) with activation row r (x[r·nb …]), equal to
// quantMatrix.dotQ8_K bit for bit (int8_q4ku_amd64.s). For fewer than 4 rows, where unpacking does not pay,
// it calls int8DotQ4K.
func int8DotQ4KU(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int) {
	if nx < 4 {
		int8DotQ4K(y, ystride, w, x, nb, nx)
		return
	}
	if nb <= 0 {
		q4kDotAVX2(y, ystride, nil, x, nb, nx)
		return
	}
	p := q6kBuffers.Get().(*[]byte)
	if cap(*p) < nb*q4kUnpacked {
		*p = make([]byte, nb*q4kUnpacked)
	}
	u := (*p)[:nb*q4kUnpacked]
	q4kUnpackAVX2(w, nb, &u[0])
	q4kDotAVX2(y, ystride, &u[0], x, nb, nx)
	q6kBuffers.Put(p)
}

// q4kUnpacked is the size of a Q4_K block unpacked by q4kUnpackAVX2.
const q4kUnpacked = 448

// q4kUnpackAVX2 unpacks the nb Q4_K blocks at w into nb·q4kUnpacked bytes at u (layout: int8_q4ku_amd64.s).
//
//go:noescape
func q4kUnpackAVX2(w *byte, nb int, u *byte)

// q4kDotAVX2 is int8DotQ4KU on the unpacked weight row u.
//
//go:noescape
func q4kDotAVX2(y *float32, ystride int, u *byte, x *int8KBlock, nb, nx int)
