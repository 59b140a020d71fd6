//go:build amd64 && !purego

#include "textflag.h"

// The Q6_K int8 kernel in two steps (see int8_q6k_amd64.go). q6kUnpackAVX2 unpacks a weight row once per call into
// q6kUnpacked blocks of 448 bytes: at 32c the 32 signed values w = q6 − 32 of chunk c (values 32c…32c+31),
// shuffled within 128-bit halves into int8KBlock's order 0,8,1,9,…; at 256+32p the scale words of chunk pair p
// (chunks 2p, 2p+1: their four groups' int8 scales as int16, see q6kSc); at 384 the 8 int32 lanes of the
// correction 128·Σ sc·w (lane l: values k with k%8 = l); at 416 d as float32.
//
// q6kDotAVX2 then takes the activation rows four at a time (then one at a time). vpmaddubsw needs one unsigned
// operand: it multiplies the activation plus 128 (x XOR 0x80, 0…255) by w (−32…31), giving int16 sums of the
// two values of one lane (|sum| ≤ 2·255·32: no saturation); the correction removes the 128·Σ sc·w this adds.
// The two chunks of a pair are unpacked side by side with vpunpck{l,h}wd (same lanes, different groups) and
// vpmaddwd multiplies them by their groups' scales and adds them into int32 lanes: acclo holds lanes 0…3 in
// both 128-bit halves, acchi lanes 4…7. At the end of a block the halves are added, giving the port's aux[0…7]
// (exact in any order), which is converted, multiplied by d (mul, then add: no FMA) and added to the lane sums;
// after the last block the lane sums are added in order, as the port does.

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


// Unpacks the weight bytes of half h of the block at SI into the chunks at 128h(DI)… and their scale words and
// correction. Registers: Y11 shuffle, Y12 0x80, Y13 32, Y14 0x0f, Y15 0x30; Y9/Y10 the correction's lanes.
#define UNPACKH(h) \
	VMOVDQU (64*h)(SI), Y3; VPSHUFB Y11, Y3, Y3; \
	VMOVDQU (64*h+32)(SI), Y4; VPSHUFB Y11, Y4, Y4; \
	VMOVDQU (128+32*h)(SI), Y5; VPSHUFB Y11, Y5, Y5; \
	VPSLLW $4, Y5, Y1; VPAND Y15, Y1, Y1; VPAND Y14, Y3, Y0; VPOR Y1, Y0, Y0; VPSUBB Y13, Y0, Y0; \
	VPSLLW $2, Y5, Y2; VPAND Y15, Y2, Y2; VPAND Y14, Y4, Y1; VPOR Y2, Y1, Y1; VPSUBB Y13, Y1, Y1; \
	VPSRLW $4, Y3, Y6; VPAND Y14, Y6, Y6; VPAND Y15, Y5, Y2; VPOR Y2, Y6, Y6; VPSUBB Y13, Y6, Y6; \
	VPSRLW $4, Y4, Y7; VPAND Y14, Y7, Y7; VPSRLW $2, Y5, Y2; VPAND Y15, Y2, Y2; VPOR Y2, Y7, Y7; VPSUBB Y13, Y7, Y7; \
	VMOVDQU Y0, (128*h)(DI); VMOVDQU Y1, (128*h+32)(DI); VMOVDQU Y6, (128*h+64)(DI); VMOVDQU Y7, (128*h+96)(DI); \
	VMOVDQU 192(SI), X8; VPSHUFB q6kSc<>+(32*h)(SB), X8, X8; VPMOVSXBW X8, Y8; VMOVDQU Y8, (256+64*h)(DI); \
	CORR(Y0, Y1, Y8); \
	VMOVDQU 192(SI), X8; VPSHUFB q6kSc<>+(32*h+16)(SB), X8, X8; VPMOVSXBW X8, Y8; VMOVDQU Y8, (256+64*h+32)(DI); \
	CORR(Y6, Y7, Y8)

// Adds 128 times the chunk pair a, b with scale words sc to the correction lanes Y9, Y10. Clobbers Y3, Y4, Y5.
#define CORR(a, b, sc) \
	VPMADDUBSW a, Y12, Y3; VPMADDUBSW b, Y12, Y4; \
	VPUNPCKHWD Y4, Y3, Y5; VPUNPCKLWD Y4, Y3, Y3; \
	VPMADDWD sc, Y3, Y3; VPADDD Y3, Y9, Y9; VPMADDWD sc, Y5, Y5; VPADDD Y5, Y10, Y10

// func q6kUnpackAVX2(w *byte, nb int, u *byte)
TEXT ·q6kUnpackAVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ u+16(FP), DI
	MOVQ ·q6kFP16(SB), BX
	TESTQ CX, CX
	JLE  unpackdone
	VMOVDQU q6kShuf<>(SB), Y11
	VMOVDQU q6k80<>(SB), Y12
	VMOVDQU q6k32<>(SB), Y13
	VMOVDQU q6kLow4<>(SB), Y14
	VMOVDQU q6kBits45<>(SB), Y15
unpackblock:
	VPXOR Y9, Y9, Y9
	VPXOR Y10, Y10, Y10
	UNPACKH(0)
	UNPACKH(1)
	VPERM2I128 $0x20, Y10, Y9, Y3
	VPERM2I128 $0x31, Y10, Y9, Y4
	VPADDD Y4, Y3, Y3
	VMOVDQU Y3, 384(DI)
	MOVWLZX 208(SI), AX
	VMOVSS (BX)(AX*4), X0
	VMOVSS X0, 416(DI)
	ADDQ $210, SI
	ADDQ $448, DI
	DECQ CX
	JNZ  unpackblock
	VZEROUPPER
unpackdone:
	RET

// Loads the chunk pair p of the unpacked block at SI into Y0, Y1 and its scale words into Y14.
#define LOADP(p) \
	VMOVDQU (64*p)(SI), Y0; VMOVDQU (64*p+32)(SI), Y1; VMOVDQU (256+32*p)(SI), Y14

// Adds the chunk pair in Y0, Y1 (scale words Y14) times the activation values at qoff(ra), qoff+32(ra), plus
// 128, to acclo, acchi. Clobbers Y3, Y12, Y13.
#define PAIR(ra, qoff, acclo, acchi) \
	VPXOR qoff(ra), Y2, Y3; VPMADDUBSW Y0, Y3, Y3; \
	VPXOR qoff+32(ra), Y2, Y12; VPMADDUBSW Y1, Y12, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD Y14, Y3, Y3; VPADDD Y3, acclo, acclo; \
	VPMADDWD Y14, Y13, Y13; VPADDD Y13, acchi, acchi

// PAIR for the first chunk pair of a block: sets acclo, acchi.
#define PAIR0(ra, acclo, acchi) \
	VPXOR (ra), Y2, Y3; VPMADDUBSW Y0, Y3, Y3; \
	VPXOR 32(ra), Y2, Y12; VPMADDUBSW Y1, Y12, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD Y14, Y3, acclo; VPMADDWD Y14, Y13, acchi

#define FIRST4 \
	LOADP(0); PAIR0(DI, Y4, Y5); PAIR0(R9, Y6, Y7); PAIR0(R10, Y8, Y9); PAIR0(R11, Y10, Y11)
#define FIRST1 \
	LOADP(0); PAIR0(DI, Y4, Y5)
#define STEP4(p) \
	LOADP(p); PAIR(DI, 64*p, Y4, Y5); PAIR(R9, 64*p, Y6, Y7); PAIR(R10, 64*p, Y8, Y9); PAIR(R11, 64*p, Y10, Y11)
#define STEP1(p) \
	LOADP(p); PAIR(DI, 64*p, Y4, Y5)

// Ends a block for one activation row: aux = the halves of acclo, acchi added, minus the correction; converted,
// times d = dx·ra.d (X15 dx), added to the 8 sums at soff(SP). Clobbers Y3, Y12, Y13.
#define FINISH(ra, acclo, acchi, soff) \
	VMULSS 288(ra), X15, X13; VBROADCASTSS X13, Y13; \
	VPERM2I128 $0x20, acchi, acclo, Y3; VPERM2I128 $0x31, acchi, acclo, Y12; VPADDD Y12, Y3, Y3; \
	VPSUBD 384(SI), Y3, Y3; VCVTDQ2PS Y3, Y3; VMULPS Y3, Y13, Y3; \
	VADDPS soff(SP), Y3, Y3; VMOVUPS Y3, soff(SP)

// Sums the 8 lane sums at soff(SP) in order into (R8), then steps R8 to the next row's y (the port's last
// loop). Clobbers X0.
#define REDUCE(soff) \
	VXORPS X0, X0, X0; \
	VADDSS soff+0(SP), X0, X0; VADDSS soff+4(SP), X0, X0; VADDSS soff+8(SP), X0, X0; VADDSS soff+12(SP), X0, X0; \
	VADDSS soff+16(SP), X0, X0; VADDSS soff+20(SP), X0, X0; VADDSS soff+24(SP), X0, X0; VADDSS soff+28(SP), X0, X0; \
	VMOVSS X0, (R8); ADDQ R13, R8

// func q6kDotAVX2(y *float32, ystride int, u *byte, x *int8KBlock, nb, nx int)
// Registers: Y0, Y1 a chunk pair, Y14 its scale words, Y2 0x80 bytes, Y3/Y12/Y13 temporaries, Y4…Y11
// acclo/acchi of activation rows 0…3, X15 dx. SI unpacked block, DI/R9/R10/R11 activation rows' blocks, CX
// blocks left, R8 y, R12 bytes per activation row, R13 ystride bytes, DX rows left. Stack: the rows' lane sums.
TEXT ·q6kDotAVX2(SB), NOSPLIT, $128-48
	MOVQ y+0(FP), R8
	MOVQ ystride+8(FP), R13
	SHLQ $2, R13
	MOVQ x+24(FP), DI
	MOVQ nb+32(FP), R12
	IMUL3Q $292, R12, R12
	MOVQ nx+40(FP), DX
	VMOVDQU q6k80<>(SB), Y2
	CMPQ nb+32(FP), $0
	JLE  zero

rows4:
	CMPQ DX, $4
	JLT  rows1
	LEAQ (DI)(R12*1), R9
	LEAQ (R9)(R12*1), R10
	LEAQ (R10)(R12*1), R11
	MOVQ u+16(FP), SI
	MOVQ nb+32(FP), CX
	VPXOR Y4, Y4, Y4
	VMOVDQU Y4, 0(SP)
	VMOVDQU Y4, 32(SP)
	VMOVDQU Y4, 64(SP)
	VMOVDQU Y4, 96(SP)
block4:
	FIRST4
	STEP4(1)
	STEP4(2)
	STEP4(3)
	VMOVSS 416(SI), X15
	FINISH(DI, Y4, Y5, 0)
	FINISH(R9, Y6, Y7, 32)
	FINISH(R10, Y8, Y9, 64)
	FINISH(R11, Y10, Y11, 96)
	ADDQ $448, SI
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
	MOVQ u+16(FP), SI
	MOVQ nb+32(FP), CX
	VPXOR Y4, Y4, Y4
	VMOVDQU Y4, 0(SP)
block1:
	FIRST1
	STEP1(1)
	STEP1(2)
	STEP1(3)
	VMOVSS 416(SI), X15
	FINISH(DI, Y4, Y5, 0)
	ADDQ $448, SI
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
