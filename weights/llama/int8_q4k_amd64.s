//go:build amd64 && !purego

#include "textflag.h"

// vpshufb mask putting each 16 loaded bytes in int8KBlock's order 0,8,1,9,…,7,15.
DATA int8shuf<>+0(SB)/8, $0x0b030a0209010800
DATA int8shuf<>+8(SB)/8, $0x0f070e060d050c04
DATA int8shuf<>+16(SB)/8, $0x0b030a0209010800
DATA int8shuf<>+24(SB)/8, $0x0f070e060d050c04
GLOBL int8shuf<>(SB), RODATA|NOPTR, $32

// One step of 64 values: 32 bytes of 4-bit weights at off(SI) (low nibbles: sub-block 2j, high: 2j+1)
// against the activations at aoff(DX) and aoff+32(DX), scale pair in Y8; accumulates the lane sums of
// values 0-3 mod 8 into Y2 and 4-7 mod 8 into Y3 (each 128-bit half separately).
#define Q4KSTEP(off, aoff) \
	VMOVDQU off(SI), Y6; \
	VPSHUFB Y1, Y6, Y6; \
	VPSRLW $4, Y6, Y7; \
	VPAND Y0, Y6, Y6; \
	VPAND Y0, Y7, Y7; \
	VPMADDUBSW aoff(DX), Y6, Y9; \
	VPMADDUBSW aoff+32(DX), Y7, Y10; \
	VPUNPCKLWD Y10, Y9, Y11; \
	VPUNPCKHWD Y10, Y9, Y12; \
	VPMADDWD Y8, Y11, Y11; \
	VPMADDWD Y8, Y12, Y12; \
	VPADDD Y11, Y2, Y2; \
	VPADDD Y12, Y3, Y3

// func int8DotQ4K(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int)
// Registers: Y0 0x0f bytes, Y1 shuffle, Y2/Y3 integer lane sums of a block, Y4 the 8 float lanes (sums[]),
// X5 sumf, Y8 scale pair; DI y, SI w block, DX x block, R10 blocks left, R8 rows left, R9 ystride bytes.
// Stack: 0(SP) the 8 scales of a block as int16, 32(SP) sums[] at the end.
TEXT ·int8DotQ4K(SB), NOSPLIT, $64-48
	MOVQ y+0(FP), DI
	MOVQ ystride+8(FP), R9
	SHLQ $2, R9
	MOVQ x+24(FP), DX
	MOVQ nx+40(FP), R8
	TESTQ R8, R8
	JLE done
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X0
	VPBROADCASTD X0, Y0
	VMOVDQU int8shuf<>(SB), Y1
row:
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), R10
	VPXOR Y4, Y4, Y4
	VXORPS X5, X5, X5
	TESTQ R10, R10
	JLE rowend
block:
	// Scales and mins (ggml's kmask arithmetic): scales in R11 (8 bytes), mins in R12.
	MOVL 4(SI), AX   // u0
	MOVL 8(SI), BX   // u1
	MOVL 12(SI), CX  // u2
	MOVL CX, R13
	SHRL $4, R13
	ANDL $0x0f0f0f0f, R13
	MOVL BX, R14
	SHRL $6, R14
	ANDL $0x03030303, R14
	SHLL $4, R14
	ORL R14, R13      // u3 = mins 4-7
	ANDL $0x3f3f3f3f, BX // mins 0-3
	ANDL $0x0f0f0f0f, CX
	MOVL AX, R14
	SHRL $6, R14
	ANDL $0x03030303, R14
	SHLL $4, R14
	ORL R14, CX       // scales 4-7
	ANDL $0x3f3f3f3f, AX // scales 0-3
	SHLQ $32, CX
	ORQ CX, AX        // 8 scales
	SHLQ $32, R13
	ORQ R13, BX       // 8 mins
	VMOVQ AX, X13
	VPMOVZXBW X13, X13
	VMOVDQU X13, 0(SP)
	// Mins: sumi = Σ bsums[g]·min[g/2].
	VMOVQ BX, X14
	VPMOVZXBW X14, X14
	VPUNPCKLWD X14, X14, X15
	VPUNPCKHWD X14, X14, X14
	VINSERTI128 $1, X14, Y15, Y15
	VPMADDWD 256(DX), Y15, Y15
	VEXTRACTI128 $1, Y15, X14
	VPADDD X14, X15, X15
	VPSHUFD $0x4e, X15, X14
	VPADDD X14, X15, X15
	VPSHUFD $0xb1, X15, X14
	VPADDD X14, X15, X15
	VMOVD X15, AX
	// The products, 64 values at a time.
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPBROADCASTD 0(SP), Y8
	Q4KSTEP(16, 0)
	VPBROADCASTD 4(SP), Y8
	Q4KSTEP(48, 64)
	VPBROADCASTD 8(SP), Y8
	Q4KSTEP(80, 128)
	VPBROADCASTD 12(SP), Y8
	Q4KSTEP(112, 192)
	// aux[l], l = 0…7: the two halves of Y2 (lanes 0-3) and Y3 (lanes 4-7) added.
	VPERM2I128 $0x20, Y3, Y2, Y6
	VPERM2I128 $0x31, Y3, Y2, Y7
	VPADDD Y7, Y6, Y6
	VCVTDQ2PS Y6, Y6
	// d = fp16(w.d)·x.d, dmin = fp16(w.dmin)·x.d
	MOVWLZX 0(SI), BX
	VMOVD BX, X9
	VCVTPH2PS X9, X9
	VMULSS 288(DX), X9, X9
	MOVWLZX 2(SI), BX
	VMOVD BX, X10
	VCVTPH2PS X10, X10
	VMULSS 288(DX), X10, X10
	VBROADCASTSS X9, Y9
	VMULPS Y9, Y6, Y6
	VADDPS Y6, Y4, Y4
	// sumf -= dmin·float(sumi)
	VCVTSI2SSL AX, X11, X11
	VMULSS X11, X10, X10
	VSUBSS X10, X5, X5
	ADDQ $144, SI
	ADDQ $292, DX
	DECQ R10
	JNZ block
rowend:
	VMOVUPS Y4, 32(SP)
	VADDSS 32(SP), X5, X5
	VADDSS 36(SP), X5, X5
	VADDSS 40(SP), X5, X5
	VADDSS 44(SP), X5, X5
	VADDSS 48(SP), X5, X5
	VADDSS 52(SP), X5, X5
	VADDSS 56(SP), X5, X5
	VADDSS 60(SP), X5, X5
	VMOVSS X5, (DI)
	ADDQ R9, DI
	DECQ R8
	JNZ row
done:
	VZEROUPPER
	RET
