//go:build amd64 && !purego

#include "textflag.h"

// func dot2x4AVX2(a0, a1, b0, b1, b2, b3 *float32, k int, c *[8]float32)
//
// Y0..Y3 accumulate a0·b0..a0·b3 and Y4..Y7 a1·b0..a1·b3, eight lanes at a time; each step loads eight values
// from each of the six rows and issues eight fused multiply-adds.
TEXT ·dot2x4AVX2(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), SI
	MOVQ a1+8(FP), DI
	MOVQ b0+16(FP), R8
	MOVQ b1+24(FP), R9
	MOVQ b2+32(FP), R10
	MOVQ b3+40(FP), R11
	MOVQ k+48(FP), CX
	MOVQ c+56(FP), DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX

loop:
	CMPQ CX, $8
	JL   reduce
	VMOVUPS (SI)(AX*1), Y8
	VMOVUPS (DI)(AX*1), Y9
	VMOVUPS (R8)(AX*1), Y10
	VFMADD231PS Y8, Y10, Y0
	VFMADD231PS Y9, Y10, Y4
	VMOVUPS (R9)(AX*1), Y11
	VFMADD231PS Y8, Y11, Y1
	VFMADD231PS Y9, Y11, Y5
	VMOVUPS (R10)(AX*1), Y12
	VFMADD231PS Y8, Y12, Y2
	VFMADD231PS Y9, Y12, Y6
	VMOVUPS (R11)(AX*1), Y13
	VFMADD231PS Y8, Y13, Y3
	VFMADD231PS Y9, Y13, Y7
	ADDQ $32, AX
	SUBQ $8, CX
	JMP  loop

reduce:
	// Fold the upper 128 bits of every accumulator onto the lower.
	VEXTRACTF128 $1, Y0, X8
	VADDPS       X8, X0, X0
	VEXTRACTF128 $1, Y1, X8
	VADDPS       X8, X1, X1
	VEXTRACTF128 $1, Y2, X8
	VADDPS       X8, X2, X2
	VEXTRACTF128 $1, Y3, X8
	VADDPS       X8, X3, X3
	VEXTRACTF128 $1, Y4, X8
	VADDPS       X8, X4, X4
	VEXTRACTF128 $1, Y5, X8
	VADDPS       X8, X5, X5
	VEXTRACTF128 $1, Y6, X8
	VADDPS       X8, X6, X6
	VEXTRACTF128 $1, Y7, X8
	VADDPS       X8, X7, X7

	// Two rounds of horizontal adds turn four 4-lane sums into one vector of four totals.
	VHADDPS X1, X0, X0
	VHADDPS X3, X2, X2
	VHADDPS X2, X0, X0
	VMOVUPS X0, 0(DX)
	VHADDPS X5, X4, X4
	VHADDPS X7, X6, X6
	VHADDPS X6, X4, X4
	VMOVUPS X4, 16(DX)
	VZEROUPPER
	RET
