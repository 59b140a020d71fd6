package llama

// transpose writes the [cols][rows] transpose of the [rows][cols] matrix src into dst.
func transpose(dst, src []float32, rows, cols int) {
	transposeStrided(dst, rows, src, cols, rows, cols)
}

// transposeStrided sets dst[j·ldd+i] = src[i·lds+j] for i < rows and j < cols: with 8×8 register transposes
// in assembly where the CPU has AVX2, for whole blocks of eight, and transposeGo for the rest.
func transposeStrided(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	r8, c8 := rows&^7, cols&^7
	if !useAVX2 || r8 == 0 || c8 == 0 {
		transposeGo(dst, ldd, src, lds, rows, cols)
		return
	}
	transpose8(dst, ldd, src, lds, r8, c8)
	if c8 < cols {
		transposeGo(dst[c8*ldd:], ldd, src[c8:], lds, r8, cols-c8)
	}
	if r8 < rows {
		transposeGo(dst[r8:], ldd, src[r8*lds:], lds, rows-r8, cols)
	}
}

// transposeGo is transposeStrided in Go. It walks strips of 16 columns and, within a strip, groups of four
// rows, so that each write fills four adjacent values of dst and each strip of src stays in cache; a plain
// double loop is ten times slower.
func transposeGo(dst []float32, ldd int, src []float32, lds, rows, cols int) {
	const strip = 16
	for j0 := 0; j0 < cols; j0 += strip {
		j1 := min(j0+strip, cols)
		i := 0
		for ; i+4 <= rows; i += 4 {
			r0 := src[i*lds+j0 : i*lds+j1]
			r1 := src[(i+1)*lds+j0:][:len(r0)]
			r2 := src[(i+2)*lds+j0:][:len(r0)]
			r3 := src[(i+3)*lds+j0:][:len(r0)]
			for j, v := range r0 {
				d := dst[(j0+j)*ldd+i:][:4]
				d[0], d[1], d[2], d[3] = v, r1[j], r2[j], r3[j]
			}
		}
		for ; i < rows; i++ {
			for j, v := range src[i*lds+j0 : i*lds+j1] {
				dst[(j0+j)*ldd+i] = v
			}
		}
	}
}
