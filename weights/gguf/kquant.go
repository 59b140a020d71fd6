package gguf

import "math"

// The K-quant formats pack 256 elements (QK_K) into a super-block. As in
// quant.go, each function ports its ggml-quants.c namesake line by line; the
// explicit float32 conversions keep C's per-operation float rounding and keep
// the compiler from fusing multiply-adds.

var kDequantizers = map[Type]func([]byte, []float32){
	TypeQ2_K: dequantizeQ2_K,
	TypeQ3_K: dequantizeQ3_K,
	TypeQ4_K: dequantizeQ4_K,
	TypeQ5_K: dequantizeQ5_K,
	TypeQ6_K: dequantizeQ6_K,
}

var kQuantizers = map[Type]func([]float32, []byte){
	TypeQ2_K: quantizeQ2_K,
	TypeQ3_K: quantizeQ3_K,
	TypeQ4_K: quantizeQ4_K,
	TypeQ5_K: quantizeQ5_K,
	TypeQ6_K: quantizeQ6_K,
}

// Byte layouts of the super-blocks (ggml-common.h).
const (
	q2KBytes = 84  // scales[16] qs[64] d dmin
	q3KBytes = 110 // hmask[32] qs[64] scales[12] d
	q4KBytes = 144 // d dmin scales[12] qs[128]
	q5KBytes = 176 // d dmin scales[12] qh[32] qs[128]
	q6KBytes = 210 // ql[128] qh[64] scales[16] d
)

// groupMaxEps is GROUP_MAX_EPS.
const groupMaxEps = 1e-15

// nearestInt is ggml's nearest_int: round to nearest, ties to even, through
// the float32 magic-number trick (valid for |f| <= 4194303).
func nearestInt(f float32) int {
	val := float32(f + 12582912)
	i := int32(math.Float32bits(val))
	return int((i & 0x007fffff) - 0x00400000)
}

func clampInt(v, lo, hi int) int { return max(lo, min(hi, v)) }

// getScaleMinK4 is ggml's get_scale_min_k4: unpacks the 6-bit scale and min
// of sub-block j from the 12 scale bytes of a Q4_K/Q5_K block.
func getScaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	d = q[j+4]&0xF | (q[j-4]>>6)<<4
	m = q[j+4]>>4 | (q[j]>>6)<<4
	return d, m
}

// makeQXQuants is make_qx_quants with qw == NULL (the only way the reference
// quantizers call it).
func makeQXQuants(n, nmax int, x []float32, L []int8, rmseType int) float32 {
	amax, vmax := absMax(x[:n])
	if amax < groupMaxEps {
		clear(L[:n])
		return 0
	}
	iscale := float32(-nmax) / vmax
	if rmseType == 0 {
		for i := 0; i < n; i++ {
			l := nearestInt(iscale * x[i])
			L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
		}
		return 1 / iscale
	}
	returnEarly := false
	if rmseType < 0 {
		rmseType = -rmseType
		returnEarly = true
	}
	weight := func(x float32) float32 {
		switch rmseType {
		case 1:
			return x * x
		case 2:
			return 1
		case 3:
			return abs32(x)
		}
		return float32(math.Sqrt(float64(abs32(x))))
	}
	var sumlx, suml2 float32
	for i := 0; i < n; i++ {
		l := nearestInt(iscale * x[i])
		l = clampInt(l, -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := weight(x[i])
		sumlx += float32(float32(w*x[i]) * float32(l))
		suml2 += float32(float32(w*float32(l)) * float32(l))
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	if returnEarly {
		if suml2 > 0 {
			return float32(0.5 * float32(scale+1/iscale))
		}
		return 1 / iscale
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -float32(float32(nmax)+float32(0.1*float32(is))) / vmax
		sumlx, suml2 = 0, 0
		for i := 0; i < n; i++ {
			l := nearestInt(iscale * x[i])
			l = clampInt(l, -nmax, nmax-1)
			w := weight(x[i])
			sumlx += float32(float32(w*x[i]) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i := 0; i < n; i++ {
				l := nearestInt(iscale * x[i])
				L[i] = int8(nmax + clampInt(l, -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = scale * sumlx
		}
	}
	return scale
}

// makeQ3Quants is make_q3_quants.
func makeQ3Quants(n, nmax int, x []float32, L []int8, doRMSE bool) float32 {
	amax, vmax := absMax(x[:n])
	if amax < groupMaxEps {
		clear(L[:n])
		return 0
	}
	iscale := float32(-nmax) / vmax
	if doRMSE {
		var sumlx, suml2 float32
		for i := 0; i < n; i++ {
			l := nearestInt(iscale * x[i])
			l = clampInt(l, -nmax, nmax-1)
			L[i] = int8(l)
			w := float32(x[i] * x[i])
			sumlx += float32(float32(w*x[i]) * float32(l))
			suml2 += float32(float32(w*float32(l)) * float32(l))
		}
		for itry := 0; itry < 5; itry++ {
			nChanged := 0
			for i := 0; i < n; i++ {
				w := float32(x[i] * x[i])
				slx := sumlx - float32(float32(w*x[i])*float32(L[i]))
				if slx > 0 {
					sl2 := suml2 - float32(float32(w*float32(L[i]))*float32(L[i]))
					newL := nearestInt(float32(x[i]*sl2) / slx)
					newL = clampInt(newL, -nmax, nmax-1)
					if newL != int(L[i]) {
						slx += float32(float32(w*x[i]) * float32(newL))
						sl2 += float32(float32(w*float32(newL)) * float32(newL))
						if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
							L[i] = int8(newL)
							sumlx = slx
							suml2 = sl2
							nChanged++
						}
					}
				}
			}
			if nChanged == 0 {
				break
			}
		}
		for i := 0; i < n; i++ {
			L[i] += int8(nmax)
		}
		return sumlx / suml2
	}
	for i := 0; i < n; i++ {
		l := nearestInt(iscale * x[i])
		l = clampInt(l, -nmax, nmax-1)
		L[i] = int8(l + nmax)
	}
	return 1 / iscale
}

// makeQKX2Quants is make_qkx2_quants: an asymmetric (scale and min) fit of
// x to levels 0..nmax, searched over nstep+1 candidate scales.
func makeQKX2Quants(n, nmax int, x, weights []float32, L []uint8, Laux []uint8,
	rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {
	vmin, vmax := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		if x[i] < vmin {
			vmin = x[i]
		}
		if x[i] > vmax {
			vmax = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if vmin > 0 {
		vmin = 0
	}
	if vmax == vmin {
		for i := 0; i < n; i++ {
			L[i] = 0
		}
		return 0, -vmin
	}
	iscale := float32(nmax) / float32(vmax-vmin)
	scale = 1 / iscale
	var bestMAD float32
	for i := 0; i < n; i++ {
		l := nearestInt(iscale * float32(x[i]-vmin))
		L[i] = uint8(clampInt(l, 0, nmax))
		diff := float32(float32(scale*float32(L[i]))+vmin) - x[i]
		if useMAD {
			diff = abs32(diff)
		} else {
			diff = diff * diff
		}
		bestMAD += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -vmin
	}
	for is := 0; is <= nstep; is++ {
		iscale = float32(float32(rmin+float32(rdelta*float32(is)))+float32(nmax)) / float32(vmax-vmin)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := nearestInt(iscale * float32(x[i]-vmin))
			l = clampInt(l, 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * x[i])
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := float32(float32(sumW*sumXL)-float32(sumX*sumL)) / D
			thisMin := float32(float32(sumL2*sumX)-float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var mad float32
			for i := 0; i < n; i++ {
				diff := float32(float32(thisScale*float32(Laux[i]))+thisMin) - x[i]
				if useMAD {
					diff = abs32(diff)
				} else {
					diff = diff * diff
				}
				mad += float32(weights[i] * diff)
			}
			if mad < bestMAD {
				copy(L[:n], Laux[:n])
				bestMAD = mad
				scale = thisScale
				vmin = thisMin
			}
		}
	}
	return scale, -vmin
}

func quantizeQ2_K(x []float32, y []byte) {
	var (
		L       [qkK]uint8
		Laux    [16]uint8
		weights [16]float32
		mins    [qkK / 16]float32
		scales  [qkK / 16]float32
	)
	const q4scale = 15
	for i := 0; i < len(x)/qkK; i++ {
		xb, yb := x[i*qkK:(i+1)*qkK], y[i*q2KBytes:(i+1)*q2KBytes]
		ysc, yqs := yb[0:16], yb[16:80]
		var maxScale, maxMin float32
		for j := 0; j < qkK/16; j++ {
			for l := 0; l < 16; l++ {
				weights[l] = abs32(xb[16*j+l])
			}
			scales[j], mins[j] = makeQKX2Quants(16, 3, xb[16*j:], weights[:], L[16*j:], Laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := 0; j < qkK/16; j++ {
				ysc[j] = uint8(nearestInt(iscale * scales[j]))
			}
			le.PutUint16(yb[80:], FP32ToFP16(maxScale/q4scale))
		} else {
			for j := range ysc {
				ysc[j] = 0
			}
			le.PutUint16(yb[80:], FP32ToFP16(0))
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := 0; j < qkK/16; j++ {
				l := nearestInt(iscale * mins[j])
				ysc[j] |= uint8(l << 4)
			}
			le.PutUint16(yb[82:], FP32ToFP16(maxMin/q4scale))
		} else {
			le.PutUint16(yb[82:], FP32ToFP16(0))
		}
		dAll, mAll := fp16At(yb[80:]), fp16At(yb[82:])
		for j := 0; j < qkK/16; j++ {
			d := dAll * float32(ysc[j]&0xF)
			if d == 0 {
				continue
			}
			dm := mAll * float32(ysc[j]>>4)
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(float32(xb[16*j+ii]+dm) / d)
				L[16*j+ii] = uint8(clampInt(l, 0, 3))
			}
		}
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				yqs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
			}
		}
	}
}

func dequantizeQ2_K(x []byte, y []float32) {
	for i := 0; i < len(y)/qkK; i++ {
		xb, yb := x[i*q2KBytes:(i+1)*q2KBytes], y[i*qkK:(i+1)*qkK]
		sc, q := xb[0:16], xb[16:80]
		d, vmin := fp16At(xb[80:]), fp16At(xb[82:])
		is, k := 0, 0
		for n := 0; n < qkK; n += 128 {
			shift := 0
			for j := 0; j < 4; j++ {
				s := sc[is]
				is++
				dl, ml := d*float32(s&0xF), vmin*float32(s>>4)
				for l := 0; l < 16; l++ {
					yb[k] = float32(dl*float32(int8((q[l]>>shift)&3))) - ml
					k++
				}
				s = sc[is]
				is++
				dl, ml = d*float32(s&0xF), vmin*float32(s>>4)
				for l := 0; l < 16; l++ {
					yb[k] = float32(dl*float32(int8((q[l+16]>>shift)&3))) - ml
					k++
				}
				shift += 2
			}
			q = q[32:]
		}
	}
}

func quantizeQ3_K(x []float32, y []byte) {
	var (
		L      [qkK]int8
		scales [qkK / 16]float32
	)
	for i := 0; i < len(x)/qkK; i++ {
		xb, yb := x[i*qkK:(i+1)*qkK], y[i*q3KBytes:(i+1)*q3KBytes]
		hmask, qs, ysc := yb[0:32], yb[32:96], yb[96:108]
		var maxScale, amax float32
		for j := 0; j < qkK/16; j++ {
			scales[j] = makeQ3Quants(16, 4, xb[16*j:], L[16*j:], true)
			scale := abs32(scales[j])
			if scale > amax {
				amax = scale
				maxScale = scales[j]
			}
		}
		clear(ysc)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < qkK/16; j++ {
				l := int8(nearestInt(iscale * scales[j]))
				l = int8(clampInt(int(l), -32, 31)) + 32
				if j < 8 {
					ysc[j] = uint8(l) & 0xF
				} else {
					ysc[j-8] |= (uint8(l) & 0xF) << 4
				}
				l >>= 4
				ysc[j%4+8] |= uint8(l) << (2 * (j / 4))
			}
			le.PutUint16(yb[108:], FP32ToFP16(1/iscale))
		} else {
			le.PutUint16(yb[108:], FP32ToFP16(0))
		}
		dAll := fp16At(yb[108:])
		for j := 0; j < qkK/16; j++ {
			var sc int8
			if j < 8 {
				sc = int8(ysc[j] & 0xF)
			} else {
				sc = int8(ysc[j-8] >> 4)
			}
			sc = (sc | int8(((ysc[8+j%4]>>(2*(j/4)))&3)<<4)) - 32
			d := dAll * float32(sc)
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(xb[16*j+ii] / d)
				L[16*j+ii] = int8(clampInt(l, -4, 3) + 4)
			}
		}
		clear(hmask)
		m, hm := 0, uint8(1)
		for j := 0; j < qkK; j++ {
			if L[j] > 3 {
				hmask[m] |= hm
				L[j] -= 4
			}
			if m++; m == qkK/8 {
				m = 0
				hm <<= 1
			}
		}
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				qs[j/4+l] = uint8(L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6)
			}
		}
	}
}

func dequantizeQ3_K(x []byte, y []float32) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	for i := 0; i < len(y)/qkK; i++ {
		xb, yb := x[i*q3KBytes:(i+1)*q3KBytes], y[i*qkK:(i+1)*qkK]
		hm, q := xb[0:32], xb[32:96]
		dAll := fp16At(xb[108:])

		var aux [4]uint32
		aux[0] = le.Uint32(xb[96:])
		aux[1] = le.Uint32(xb[100:])
		aux[2] = le.Uint32(xb[104:])
		tmp := aux[2]
		aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
		aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
		aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
		aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
		var scales [16]int8
		for k := range scales {
			scales[k] = int8(aux[k/4] >> (8 * (k % 4)))
		}

		is, k := 0, 0
		m := uint8(1)
		for n := 0; n < qkK; n += 128 {
			shift := 0
			for j := 0; j < 4; j++ {
				dl := dAll * float32(int(scales[is])-32)
				is++
				for l := 0; l < 16; l++ {
					v := int(int8((q[l]>>shift)&3)) - hmOffset(hm[l], m)
					yb[k] = dl * float32(v)
					k++
				}
				dl = dAll * float32(int(scales[is])-32)
				is++
				for l := 0; l < 16; l++ {
					v := int(int8((q[l+16]>>shift)&3)) - hmOffset(hm[l+16], m)
					yb[k] = dl * float32(v)
					k++
				}
				shift += 2
				m <<= 1
			}
			q = q[32:]
		}
	}
}

// hmOffset is Q3_K's "(hm & m) ? 0 : 4": a clear high bit means the 2-bit
// value is offset by -4.
func hmOffset(hm, m uint8) int {
	if hm&m != 0 {
		return 0
	}
	return 4
}

// quantizeQ45K is quantize_row_q4_K_ref (nmax 15) and quantize_row_q5_K_ref
// (nmax 31), which differ only in the search parameters and the packing.
func quantizeQ45K(xb []float32, yb []byte, nmax int, rmin float32, nstep int, L *[qkK]uint8) {
	var (
		Laux    [32]uint8
		weights [32]float32
		mins    [qkK / 32]float32
		scales  [qkK / 32]float32
	)
	ysc := yb[4:16]
	var maxScale, maxMin float32
	for j := 0; j < qkK/32; j++ {
		var sumX2 float32
		for l := 0; l < 32; l++ {
			sumX2 += float32(xb[32*j+l] * xb[32*j+l])
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l := 0; l < 32; l++ {
			weights[l] = avX + abs32(xb[32*j+l])
		}
		scales[j], mins[j] = makeQKX2Quants(32, nmax, xb[32*j:], weights[:], L[32*j:], Laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	for j := 0; j < qkK/32; j++ {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		if j < 4 {
			ysc[j] = ls
			ysc[j+4] = lm
		} else {
			ysc[j+4] = ls&0xF | (lm&0xF)<<4
			ysc[j-4] |= (ls >> 4) << 6
			ysc[j] |= (lm >> 4) << 6
		}
	}
	le.PutUint16(yb[0:], FP32ToFP16(maxScale/63))
	le.PutUint16(yb[2:], FP32ToFP16(maxMin/63))
	dAll, mAll := fp16At(yb[0:]), fp16At(yb[2:])
	for j := 0; j < qkK/32; j++ {
		sc, m := getScaleMinK4(j, ysc)
		d := dAll * float32(sc)
		if d == 0 {
			continue
		}
		dm := mAll * float32(m)
		for ii := 0; ii < 32; ii++ {
			l := nearestInt(float32(xb[32*j+ii]+dm) / d)
			L[32*j+ii] = uint8(clampInt(l, 0, nmax))
		}
	}
}

func quantizeQ4_K(x []float32, y []byte) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		xb, yb := x[i*qkK:(i+1)*qkK], y[i*q4KBytes:(i+1)*q4KBytes]
		quantizeQ45K(xb, yb, 15, -1, 20, &L)
		q := yb[16:]
		for j := 0; j < qkK; j += 64 {
			for l := 0; l < 32; l++ {
				q[l] = L[j+l] | L[j+l+32]<<4
			}
			q = q[32:]
		}
	}
}

func dequantizeQ4_K(x []byte, y []float32) {
	for i := 0; i < len(y)/qkK; i++ {
		xb, yb := x[i*q4KBytes:(i+1)*q4KBytes], y[i*qkK:(i+1)*qkK]
		d, vmin := fp16At(xb[0:]), fp16At(xb[2:])
		sc, q := xb[4:16], xb[16:]
		is, k := 0, 0
		for j := 0; j < qkK; j += 64 {
			s, m := getScaleMinK4(is, sc)
			d1, m1 := d*float32(s), vmin*float32(m)
			s, m = getScaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), vmin*float32(m)
			for l := 0; l < 32; l++ {
				yb[k] = float32(d1*float32(q[l]&0xF)) - m1
				k++
			}
			for l := 0; l < 32; l++ {
				yb[k] = float32(d2*float32(q[l]>>4)) - m2
				k++
			}
			q = q[32:]
			is += 2
		}
	}
}

func quantizeQ5_K(x []float32, y []byte) {
	var L [qkK]uint8
	for i := 0; i < len(x)/qkK; i++ {
		xb, yb := x[i*qkK:(i+1)*qkK], y[i*q5KBytes:(i+1)*q5KBytes]
		quantizeQ45K(xb, yb, 31, -0.5, 15, &L)
		qh, ql := yb[16:48], yb[48:]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for n := 0; n < qkK; n += 64 {
			for j := 0; j < 32; j++ {
				l1 := L[n+j]
				if l1 > 15 {
					l1 -= 16
					qh[j] |= m1
				}
				l2 := L[n+j+32]
				if l2 > 15 {
					l2 -= 16
					qh[j] |= m2
				}
				ql[j] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
			ql = ql[32:]
		}
	}
}

func dequantizeQ5_K(x []byte, y []float32) {
	for i := 0; i < len(y)/qkK; i++ {
		xb, yb := x[i*q5KBytes:(i+1)*q5KBytes], y[i*qkK:(i+1)*qkK]
		d, vmin := fp16At(xb[0:]), fp16At(xb[2:])
		sc, qh, ql := xb[4:16], xb[16:48], xb[48:]
		is, k := 0, 0
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < qkK; j += 64 {
			s, m := getScaleMinK4(is, sc)
			d1, m1 := d*float32(s), vmin*float32(m)
			s, m = getScaleMinK4(is+1, sc)
			d2, m2 := d*float32(s), vmin*float32(m)
			for l := 0; l < 32; l++ {
				v := int(ql[l] & 0xF)
				if qh[l]&u1 != 0 {
					v += 16
				}
				yb[k] = float32(d1*float32(v)) - m1
				k++
			}
			for l := 0; l < 32; l++ {
				v := int(ql[l] >> 4)
				if qh[l]&u2 != 0 {
					v += 16
				}
				yb[k] = float32(d2*float32(v)) - m2
				k++
			}
			ql = ql[32:]
			is += 2
			u1 <<= 2
			u2 <<= 2
		}
	}
}

func quantizeQ6_K(x []float32, y []byte) {
	var (
		L      [qkK]int8
		scales [qkK / 16]float32
	)
	for i := 0; i < len(x)/qkK; i++ {
		xb, yb := x[i*qkK:(i+1)*qkK], y[i*q6KBytes:(i+1)*q6KBytes]
		var maxScale, maxAbsScale float32
		for ib := 0; ib < qkK/16; ib++ {
			scale := makeQXQuants(16, 32, xb[16*ib:], L[16*ib:], 1)
			scales[ib] = scale
			if abs := abs32(scale); abs > maxAbsScale {
				maxAbsScale = abs
				maxScale = scale
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(yb)
			le.PutUint16(yb[208:], FP32ToFP16(0))
			continue
		}
		iscale := -128 / maxScale
		le.PutUint16(yb[208:], FP32ToFP16(1/iscale))
		ysc := yb[192:208]
		for ib := 0; ib < qkK/16; ib++ {
			ysc[ib] = uint8(int8(min(127, nearestInt(iscale*scales[ib]))))
		}
		dAll := fp16At(yb[208:])
		for j := 0; j < qkK/16; j++ {
			d := dAll * float32(int8(ysc[j]))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(xb[16*j+ii] / d)
				L[16*j+ii] = int8(clampInt(l, -32, 31) + 32)
			}
		}
		ql, qh := yb[0:128], yb[128:192]
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				q1 := uint8(L[j+l]) & 0xF
				q2 := uint8(L[j+l+32]) & 0xF
				q3 := uint8(L[j+l+64]) & 0xF
				q4 := uint8(L[j+l+96]) & 0xF
				ql[l] = q1 | q3<<4
				ql[l+32] = q2 | q4<<4
				qh[l] = uint8(L[j+l])>>4 | (uint8(L[j+l+32])>>4)<<2 | (uint8(L[j+l+64])>>4)<<4 | (uint8(L[j+l+96])>>4)<<6
			}
			ql = ql[64:]
			qh = qh[32:]
		}
	}
}

func dequantizeQ6_K(x []byte, y []float32) {
	for i := 0; i < len(y)/qkK; i++ {
		xb, yb := x[i*q6KBytes:(i+1)*q6KBytes], y[i*qkK:(i+1)*qkK]
		d := fp16At(xb[208:])
		ql, qh, sc := xb[0:128], xb[128:192], xb[192:208]
		for n := 0; n < qkK; n += 128 {
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int8(ql[l+0]&0xF|((qh[l]>>0)&3)<<4) - 32
				q2 := int8(ql[l+32]&0xF|((qh[l]>>2)&3)<<4) - 32
				q3 := int8(ql[l+0]>>4|((qh[l]>>4)&3)<<4) - 32
				q4 := int8(ql[l+32]>>4|((qh[l]>>6)&3)<<4) - 32
				yb[n+l+0] = float32(d*float32(int8(sc[is+0]))) * float32(q1)
				yb[n+l+32] = float32(d*float32(int8(sc[is+2]))) * float32(q2)
				yb[n+l+64] = float32(d*float32(int8(sc[is+4]))) * float32(q3)
				yb[n+l+96] = float32(d*float32(int8(sc[is+6]))) * float32(q4)
			}
			ql = ql[64:]
			qh = qh[32:]
			sc = sc[8:]
		}
	}
}
