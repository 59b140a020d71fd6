//go:build amd64 && !purego

#include "textflag.h"

// func strip2x4AVX2(a0, a1, b *float32, ldb, k, ncols int, c0, c1 *float32)
//
// For each group of four rows of b (R8, R9, R10, R11), Y0..Y3 accumulate a0·b0..a0·b3 and Y4..Y7
// a1·b0..a1·b3, eight lanes at a time: each step loads eight values from each of the six rows and issues eight
// fused multiply-adds. The sums are then folded to four floats per row and added into c0 and c1.
TEXT ·strip2x4AVX2(SB), NOSPLIT, $0-64
	MOVQ a0+0(FP), SI
	MOVQ a1+8(FP), DI
	MOVQ b+16(FP), R8
	MOVQ ldb+24(FP), R12
	SHLQ $2, R12              // row stride in bytes
	MOVQ k+32(FP), R13
	MOVQ ncols+40(FP), R14
	MOVQ c0+48(FP), DX
	MOVQ c1+56(FP), BX

cols:
	CMPQ R14, $4
	JL   end
	LEAQ (R8)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	XORQ AX, AX               // byte offset along the rows
	MOVQ R13, CX              // values left

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
	VMOVUPS (DX), X8
	VADDPS  X8, X0, X0
	VMOVUPS X0, (DX)
	VHADDPS X5, X4, X4
	VHADDPS X7, X6, X6
	VHADDPS X6, X4, X4
	VMOVUPS (BX), X8
	VADDPS  X8, X4, X4
	VMOVUPS X4, (BX)

	ADDQ $16, DX
	ADDQ $16, BX
	LEAQ (R11)(R12*1), R8     // the next four rows of b
	SUBQ $4, R14
	JMP  cols

end:
	VZEROUPPER
	RET
