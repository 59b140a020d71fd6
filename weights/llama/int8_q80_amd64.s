//go:build amd64 && !purego

#include "textflag.h"

// int8DotQ80 (see int8_q80_amd64.go). Per block, the 32 weights w are loaded once; for each activation row,
// vpsignb gives x·sign(w) (exact: x ≠ −128), vpmaddubsw multiplies it by |w| (0…128, unsigned; pair sums at most
// 2·128·127, no saturation) and vpmaddwd by ones gives 8 int32 partial sums. For eight rows (then four, then
// one), an unpack-and-add transposition (PAIRSUM, QUADSUM; cheaper here than vphaddd) and a fold of the 128-bit
// halves give each row's sumi in one lane; converted, multiplied by dx·dy (a float32 product per lane, as the
// port rounds it) and added to the lane's sumf: the port's order for each pair.
//
// Registers (8 rows): Y0 w, Y1 |w|, Y2…Y9 the rows' partial sums, Y10/Y11 dy, Y13 temporary, Y14 the eight
// sumf, Y15 int16 ones. SI weight block; DI, R9 = DI+3·R12, R10 = DI+6·R12 address the activation rows' blocks
// (R11 the fourth row with four rows); CX blocks left, BX q6kFP16 (the fp16 table), R8 y, R12 bytes per
// activation row, R13 ystride bytes, DX rows left.

DATA q80Ones<>+0(SB)/8, $0x0001000100010001
DATA q80Ones<>+8(SB)/8, $0x0001000100010001
DATA q80Ones<>+16(SB)/8, $0x0001000100010001
DATA q80Ones<>+24(SB)/8, $0x0001000100010001
GLOBL q80Ones<>(SB), RODATA|NOPTR, $32

// The 8 int32 partial sums of activation block ra (a memory operand) times the weights in Y0/Y1, into acc.
#define ROW(ra, acc) \
	VMOVDQU ra, acc; VPSIGNB Y0, acc, acc; VPMADDUBSW acc, Y1, acc; VPMADDWD Y15, acc, acc

// a = the lane pairs of a and b interleaved and added: [a0+a2, b0+b2, a1+a3, b1+b3] in each 128-bit half.
#define PAIRSUM(a, b, t) \
	VPUNPCKHDQ b, a, t; VPUNPCKLDQ b, a, a; VPADDD t, a, a

// a = [a0+a2, a1+a3, b0+b2, b1+b3] in each half: for a, b from PAIRSUM, each 128-bit half's sums of 4 rows.
#define QUADSUM(a, b, t) \
	VPUNPCKHQDQ b, a, t; VPUNPCKLQDQ b, a, a; VPADDD t, a, a

// Stores the 4 floats of xs to y and the next three rows' y (R8 += ystride each).
#define STORE4(xs) \
	VMOVSS xs, (R8); ADDQ R13, R8; VEXTRACTPS $1, xs, (R8); ADDQ R13, R8; \
	VEXTRACTPS $2, xs, (R8); ADDQ R13, R8; VEXTRACTPS $3, xs, (R8); ADDQ R13, R8

// X0 = dx, the weight block's scale (q6kFP16 lookup). Clobbers AX.
#define WSCALE \
	MOVWLZX (SI), AX; VMOVSS (BX)(AX*4), X0

// func int8DotQ80(y *float32, ystride int, w *byte, x *int8Block, nb, nx int)
TEXT ·int8DotQ80(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), R8
	MOVQ ystride+8(FP), R13
	SHLQ $2, R13
	MOVQ x+24(FP), DI
	MOVQ nb+32(FP), R12
	IMUL3Q $36, R12, R12
	MOVQ nx+40(FP), DX
	MOVQ ·q6kFP16(SB), BX
	VMOVDQU q80Ones<>(SB), Y15
	CMPQ nb+32(FP), $0
	JLE  zero

rows8:
	CMPQ DX, $8
	JLT  rows4
	LEAQ (DI)(R12*2), R9
	ADDQ R12, R9         // row 3
	LEAQ (R9)(R12*2), R10
	ADDQ R12, R10        // row 6
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), CX
	VXORPS Y14, Y14, Y14
block8:
	VMOVDQU 2(SI), Y0
	VPABSB Y0, Y1
	ROW((DI), Y2)
	ROW((DI)(R12*1), Y3)
	ROW((DI)(R12*2), Y4)
	ROW((R9), Y5)
	ROW((R9)(R12*1), Y6)
	ROW((R9)(R12*2), Y7)
	ROW((R10), Y8)
	ROW((R10)(R12*1), Y9)
	PAIRSUM(Y2, Y3, Y10)
	PAIRSUM(Y4, Y5, Y10)
	PAIRSUM(Y6, Y7, Y10)
	PAIRSUM(Y8, Y9, Y10)
	QUADSUM(Y2, Y4, Y10)
	QUADSUM(Y6, Y8, Y10)
	VPERM2I128 $0x20, Y6, Y2, Y3
	VPERM2I128 $0x31, Y6, Y2, Y2
	VPADDD Y3, Y2, Y2    // rows 0…7
	VCVTDQ2PS Y2, Y2
	WSCALE
	VBROADCASTSS X0, Y0
	VMOVSS 32(DI), X10
	VINSERTPS $0x10, 32(DI)(R12*1), X10, X10
	VINSERTPS $0x20, 32(DI)(R12*2), X10, X10
	VINSERTPS $0x30, 32(R9), X10, X10
	VMOVSS 32(R9)(R12*1), X11
	VINSERTPS $0x10, 32(R9)(R12*2), X11, X11
	VINSERTPS $0x20, 32(R10), X11, X11
	VINSERTPS $0x30, 32(R10)(R12*1), X11, X11
	VINSERTF128 $1, X11, Y10, Y10
	VMULPS Y10, Y0, Y10  // dx·dy
	VMULPS Y10, Y2, Y2   // float32(sumi)·(dx·dy)
	VADDPS Y2, Y14, Y14  // sumf += …
	ADDQ $34, SI
	ADDQ $36, DI
	ADDQ $36, R9
	ADDQ $36, R10
	DECQ CX
	JNZ  block8
	VEXTRACTF128 $1, Y14, X13
	STORE4(X14)
	STORE4(X13)
	LEAQ (R10)(R12*2), DI // the start of row 8
	SUBQ R12, DI
	SUBQ $8, DX
	JMP  rows8

rows4:
	CMPQ DX, $4
	JLT  rows1
	LEAQ (DI)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), CX
	VXORPS X14, X14, X14
block4:
	VMOVDQU 2(SI), Y0
	VPABSB Y0, Y1
	ROW((DI), Y2)
	ROW((R9), Y3)
	ROW((R10), Y4)
	ROW((R11), Y5)
	PAIRSUM(Y2, Y3, Y6)
	PAIRSUM(Y4, Y5, Y6)
	QUADSUM(Y2, Y4, Y6)  // each half: rows 0…3
	VEXTRACTI128 $1, Y2, X3
	VPADDD X3, X2, X2
	VCVTDQ2PS X2, X2
	WSCALE
	VBROADCASTSS X0, X0
	VMOVSS 32(DI), X9
	VINSERTPS $0x10, 32(R9), X9, X9
	VINSERTPS $0x20, 32(R10), X9, X9
	VINSERTPS $0x30, 32(R11), X9, X9
	VMULPS X9, X0, X9    // dx·dy
	VMULPS X9, X2, X2    // float32(sumi)·(dx·dy)
	VADDPS X2, X14, X14  // sumf += …
	ADDQ $34, SI
	ADDQ $36, DI
	ADDQ $36, R9
	ADDQ $36, R10
	ADDQ $36, R11
	DECQ CX
	JNZ  block4
	STORE4(X14)
	MOVQ R11, DI // R11 is at the end of row 3: the start of row 4
	SUBQ $4, DX
	JMP  rows4

rows1:
	TESTQ DX, DX
	JLE  done
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), CX
	VXORPS X14, X14, X14
block1:
	VMOVDQU 2(SI), Y0
	VPABSB Y0, Y1
	ROW((DI), Y2)
	VEXTRACTI128 $1, Y2, X3
	VPADDD X3, X2, X2
	VPHADDD X2, X2, X2
	VPHADDD X2, X2, X2
	VCVTDQ2PS X2, X2
	WSCALE
	VMULSS 32(DI), X0, X9
	VMULSS X9, X2, X2
	VADDSS X2, X14, X14
	ADDQ $34, SI
	ADDQ $36, DI
	DECQ CX
	JNZ  block1
	VMOVSS X14, (R8)
	ADDQ R13, R8
	DECQ DX
	JMP  rows1

zero: // no blocks: every dot is 0
	TESTQ DX, DX
	JLE  done
	MOVL $0, (R8)
	ADDQ R13, R8
	DECQ DX
	JMP  zero

done:
	VZEROUPPER
	RET
