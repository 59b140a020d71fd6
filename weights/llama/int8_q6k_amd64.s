//go:build amd64 && !purego

#include "textflag.h"

// int8DotQ6K (see int8_q6k_amd64.go). Per half super-block h (128 values), the weight bytes ql[64h:],
// ql[64h+32:], qh[32h:] are loaded and shuffled within 128-bit halves into int8KBlock's order 0,8,1,9,…, then
// unpacked into the signed values w = q6 − 32 of chunks j = 0…3 (values 128h+32j…+31: groups of 16 with scales
// sc[8h+2j], sc[8h+2j+1]). vpmaddubsw needs one unsigned operand: it multiplies the activation plus 128 (x XOR
// 0x80, 0…255) by w, giving int16 sums of the two values of one lane (|sum| ≤ 2·255·32, no saturation); the
// 128·Σw this adds is computed once per weight block the same way and subtracted at the block's end. Chunks are
// taken in pairs (0,1) and (2,3): vpunpck{l,h}wd puts the words of the two chunks side by side (same lanes,
// different groups) and vpmaddwd multiplies them by their groups' scales and adds them into int32 lanes: acclo
// holds lanes 0…3 in both 128-bit halves, acchi lanes 4…7. At the end of a block the halves are added, giving
// the port's aux[0…7], which is converted, multiplied by d (mul, then add: no FMA) and added to the lane sums.
//
// Registers: Y0, Y1 a chunk pair; Y2 0x80 bytes; Y3, Y12, Y13 temporaries; Y4…Y11 acclo/acchi of activation
// rows 0…3; Y14/Y15 the same for the weights' 128·Σw. SI weight block, DI/R9/R10/R11 activation rows' blocks,
// CX blocks left, BX q6kFP16, R8 y, R12 bytes per activation row, R13 ystride bytes, DX rows left.
// Stack: 0…127 the float lane sums of rows 0…3, 128 the scale words of the current chunk pair.

DATA q6kShuf<>+0(SB)/8, $0x0b030a0209010800
DATA q6kShuf<>+8(SB)/8, $0x0f070e060d050c04
DATA q6kShuf<>+16(SB)/8, $0x0b030a0209010800
DATA q6kShuf<>+24(SB)/8, $0x0f070e060d050c04
GLOBL q6kShuf<>(SB), RODATA|NOPTR, $32

DATA q6kLow4<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6kLow4<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6kLow4<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q6kLow4<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q6kLow4<>(SB), RODATA|NOPTR, $32

DATA q6kBits45<>+0(SB)/8, $0x3030303030303030
DATA q6kBits45<>+8(SB)/8, $0x3030303030303030
DATA q6kBits45<>+16(SB)/8, $0x3030303030303030
DATA q6kBits45<>+24(SB)/8, $0x3030303030303030
GLOBL q6kBits45<>(SB), RODATA|NOPTR, $32

DATA q6k32<>+0(SB)/8, $0x2020202020202020
DATA q6k32<>+8(SB)/8, $0x2020202020202020
DATA q6k32<>+16(SB)/8, $0x2020202020202020
DATA q6k32<>+24(SB)/8, $0x2020202020202020
GLOBL q6k32<>(SB), RODATA|NOPTR, $32

DATA q6k80<>+0(SB)/8, $0x8080808080808080
DATA q6k80<>+8(SB)/8, $0x8080808080808080
DATA q6k80<>+16(SB)/8, $0x8080808080808080
DATA q6k80<>+24(SB)/8, $0x8080808080808080
GLOBL q6k80<>(SB), RODATA|NOPTR, $32

// Scale shuffles: for chunk pair (0,1) of half h, sc[8h] and sc[8h+2] alternating in the low 8 bytes and
// sc[8h+1], sc[8h+3] in the high ones (sign-extended to words: the low and high 128-bit halves); for pair (2,3)
// the same with 8h+4…8h+7.
DATA q6kSc<>+0(SB)/8, $0x0200020002000200
DATA q6kSc<>+8(SB)/8, $0x0301030103010301
DATA q6kSc<>+16(SB)/8, $0x0604060406040604
DATA q6kSc<>+24(SB)/8, $0x0705070507050705
DATA q6kSc<>+32(SB)/8, $0x0a080a080a080a08
DATA q6kSc<>+40(SB)/8, $0x0b090b090b090b09
DATA q6kSc<>+48(SB)/8, $0x0e0c0e0c0e0c0e0c
DATA q6kSc<>+56(SB)/8, $0x0f0d0f0d0f0d0f0d
GLOBL q6kSc<>(SB), RODATA|NOPTR, $64

// The scale words of a chunk pair to 128(SP); off is the pair's shuffle in q6kSc. Clobbers Y3.
#define SCALES(off) \
	VMOVDQU 192(SI), X3; VPSHUFB q6kSc<>+off(SB), X3, X3; VPMOVSXBW X3, Y3; VMOVDQU Y3, 128(SP)

// Loads and shuffles the weight bytes of half h: ql[64h:] in Y3, ql[64h+32:] in Y12, qh[32h:] in Y13.
#define LOADH(h) \
	VMOVDQU (64*h)(SI), Y3; VPSHUFB q6kShuf<>(SB), Y3, Y3; \
	VMOVDQU (64*h+32)(SI), Y12; VPSHUFB q6kShuf<>(SB), Y12, Y12; \
	VMOVDQU (128+32*h)(SI), Y13; VPSHUFB q6kShuf<>(SB), Y13, Y13

// Chunks 0 and 1 of the loaded half, minus 32, in Y0, Y1. Clobbers Y3.
#define CHUNKS01 \
	VPSLLW $4, Y13, Y1; VPAND q6kBits45<>(SB), Y1, Y1; VPAND q6kLow4<>(SB), Y3, Y0; VPOR Y1, Y0, Y0; \
	VPSLLW $2, Y13, Y3; VPAND q6kBits45<>(SB), Y3, Y3; VPAND q6kLow4<>(SB), Y12, Y1; VPOR Y3, Y1, Y1; \
	VPSUBB q6k32<>(SB), Y0, Y0; VPSUBB q6k32<>(SB), Y1, Y1

// Chunks 2 and 3 of the loaded half, minus 32, in Y0, Y1. Clobbers Y3.
#define CHUNKS23 \
	VPSRLW $4, Y3, Y0; VPAND q6kLow4<>(SB), Y0, Y0; VPAND q6kBits45<>(SB), Y13, Y1; VPOR Y1, Y0, Y0; \
	VPSRLW $4, Y12, Y1; VPAND q6kLow4<>(SB), Y1, Y1; VPSRLW $2, Y13, Y3; VPAND q6kBits45<>(SB), Y3, Y3; VPOR Y3, Y1, Y1; \
	VPSUBB q6k32<>(SB), Y0, Y0; VPSUBB q6k32<>(SB), Y1, Y1

// Adds the lane sums of the chunk pair in Y0, Y1 times the unsigned bytes u0, u1 (registers) to acclo, acchi.
// Clobbers Y12, Y13, and Y3 unless u0 is Y3.
#define MADD(u0, u1, acclo, acchi) \
	VPMADDUBSW Y0, u0, Y3; VPMADDUBSW Y1, u1, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD 128(SP), Y3, Y3; VPADDD Y3, acclo, acclo; \
	VPMADDWD 128(SP), Y13, Y13; VPADDD Y13, acchi, acchi

// The chunk pair times the activation values at qoff(ra), qoff+32(ra), plus 128, into acclo, acchi.
#define PAIR(ra, qoff, acclo, acchi) \
	VPXOR qoff(ra), Y2, Y3; VPXOR qoff+32(ra), Y2, Y12; MADD(Y3, Y12, acclo, acchi)

// One chunk pair of the current block for the weights' correction and nrows activation rows.
#define STEP1(qoff) \
	MADD(Y2, Y2, Y14, Y15); PAIR(DI, qoff, Y4, Y5)
#define STEP4(qoff) \
	MADD(Y2, Y2, Y14, Y15); PAIR(DI, qoff, Y4, Y5); PAIR(R9, qoff, Y6, Y7); PAIR(R10, qoff, Y8, Y9); PAIR(R11, qoff, Y10, Y11)

// The integer work of one block for 1 or 4 rows (STEP1 or STEP4).
#define BLOCK(step) \
	SCALES(0); LOADH(0); CHUNKS01; step(0); \
	SCALES(16); LOADH(0); CHUNKS23; step(64); \
	SCALES(32); LOADH(1); CHUNKS01; step(128); \
	SCALES(48); LOADH(1); CHUNKS23; step(192); \
	VPERM2I128 $0x20, Y15, Y14, Y3; VPERM2I128 $0x31, Y15, Y14, Y14; VPADDD Y3, Y14, Y14; \
	VPXOR Y15, Y15, Y15; \
	MOVWLZX 208(SI), AX; VMOVSS (BX)(AX*4), X0

// Ends a block for one activation row: aux = the halves of acclo, acchi added, minus the correction in Y14;
// converted, times d = X0·ra.d, added to the 8 sums at soff(SP); zeroes acclo, acchi. Clobbers Y1, Y3, Y12.
#define FINISH(ra, acclo, acchi, soff) \
	VMULSS 288(ra), X0, X1; VBROADCASTSS X1, Y1; \
	VPERM2I128 $0x20, acchi, acclo, Y3; VPERM2I128 $0x31, acchi, acclo, Y12; VPADDD Y12, Y3, Y3; \
	VPSUBD Y14, Y3, Y3; VCVTDQ2PS Y3, Y3; VMULPS Y3, Y1, Y3; \
	VMOVUPS soff(SP), Y12; VADDPS Y3, Y12, Y12; VMOVUPS Y12, soff(SP); \
	VPXOR acclo, acclo, acclo; VPXOR acchi, acchi, acchi

// Sums the 8 lane sums at soff(SP) in order into (R8), then steps R8 to the next row's y (the port's last
// loop). Clobbers X0.
#define REDUCE(soff) \
	VXORPS X0, X0, X0; \
	VADDSS soff+0(SP), X0, X0; VADDSS soff+4(SP), X0, X0; VADDSS soff+8(SP), X0, X0; VADDSS soff+12(SP), X0, X0; \
	VADDSS soff+16(SP), X0, X0; VADDSS soff+20(SP), X0, X0; VADDSS soff+24(SP), X0, X0; VADDSS soff+28(SP), X0, X0; \
	VMOVSS X0, (R8); ADDQ R13, R8

// func int8DotQ6K(y *float32, ystride int, w *byte, x *int8KBlock, nb, nx int)
TEXT ·int8DotQ6K(SB), NOSPLIT, $160-48
	MOVQ y+0(FP), R8
	MOVQ ystride+8(FP), R13
	SHLQ $2, R13
	MOVQ x+24(FP), DI
	MOVQ nb+32(FP), R12
	IMUL3Q $292, R12, R12
	MOVQ nx+40(FP), DX
	MOVQ ·q6kFP16(SB), BX
	VMOVDQU q6k80<>(SB), Y2
	CMPQ nb+32(FP), $0
	JLE  zero

rows4:
	CMPQ DX, $4
	JLT  rows1
	LEAQ (DI)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), CX
	VPXOR Y4, Y4, Y4
	VMOVDQU Y4, 0(SP)
	VMOVDQU Y4, 32(SP)
	VMOVDQU Y4, 64(SP)
	VMOVDQU Y4, 96(SP)
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPXOR Y8, Y8, Y8
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	VPXOR Y11, Y11, Y11
	VPXOR Y14, Y14, Y14
	VPXOR Y15, Y15, Y15
block4:
	BLOCK(STEP4)
	FINISH(DI, Y4, Y5, 0)
	FINISH(R9, Y6, Y7, 32)
	FINISH(R10, Y8, Y9, 64)
	FINISH(R11, Y10, Y11, 96)
	VPXOR Y14, Y14, Y14
	ADDQ $210, SI
	ADDQ $292, DI
	ADDQ $292, R9
	ADDQ $292, R10
	ADDQ $292, R11
	DECQ CX
	JNZ  block4
	REDUCE(0)
	REDUCE(32)
	REDUCE(64)
	REDUCE(96)
	MOVQ R11, DI // R11 is at the end of row 3: the start of row 4
	SUBQ $4, DX
	JMP  rows4

rows1:
	TESTQ DX, DX
	JLE  done
	MOVQ w+16(FP), SI
	MOVQ nb+32(FP), CX
	VPXOR Y4, Y4, Y4
	VMOVDQU Y4, 0(SP)
	VPXOR Y5, Y5, Y5
	VPXOR Y14, Y14, Y14
	VPXOR Y15, Y15, Y15
block1:
	BLOCK(STEP1)
	FINISH(DI, Y4, Y5, 0)
	VPXOR Y14, Y14, Y14
	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  block1
	REDUCE(0)
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
