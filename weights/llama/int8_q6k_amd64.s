//go:build amd64 && !purego

#include "textflag.h"

// Q6_K × Q8_K dot products (see int8_q6k.go). Per half super-block h (128 values), the weight bytes ql[64h:],
// ql[64h+32:], qh[32h:] are loaded and shuffled within 128-bit halves by q6kPerm (the order of q6kAct.qs), then
// unpacked into the unsigned 6-bit values of chunks j = 0…3 (values 128h+32j…+31, groups of 16 with scales
// sc[8h+2j], sc[8h+2j+1]). Chunks are taken in pairs (0,1) and (2,3): vpmaddubsw with the activation gives int16
// sums of the two values of one lane, minus q6kAct.corr the offset 32; vpunpck{l,h}wd puts the words of the two
// chunks side by side (same lanes, different groups) and vpmaddwd multiplies them by their groups' scales and adds
// them into int32 lanes: acclo holds lanes 0…3 in both 128-bit halves, acchi lanes 4…7. At the end of a block the
// halves are added, giving the port's aux[0…7], which is converted, multiplied by d and added to the lane sums.

DATA q6kPerm<>+0(SB)/8, $0x0b030a0209010800
DATA q6kPerm<>+8(SB)/8, $0x0f070e060d050c04
DATA q6kPerm<>+16(SB)/8, $0x0b030a0209010800
DATA q6kPerm<>+24(SB)/8, $0x0f070e060d050c04
GLOBL q6kPerm<>(SB), RODATA|NOPTR, $32

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

// Scale shuffles: for chunk pair (0,1) of half h, words sc[8h], sc[8h+2] alternating in the low 128 bits and
// sc[8h+1], sc[8h+3] in the high ones; for pair (2,3) the same with 8h+4…8h+7.
DATA q6kSc<>+0(SB)/8, $0x0200020002000200
DATA q6kSc<>+8(SB)/8, $0x0301030103010301
DATA q6kSc<>+16(SB)/8, $0x0604060406040604
DATA q6kSc<>+24(SB)/8, $0x0705070507050705
DATA q6kSc<>+32(SB)/8, $0x0a080a080a080a08
DATA q6kSc<>+40(SB)/8, $0x0b090b090b090b09
DATA q6kSc<>+48(SB)/8, $0x0e0c0e0c0e0c0e0c
DATA q6kSc<>+56(SB)/8, $0x0f0d0f0d0f0d0f0d
GLOBL q6kSc<>(SB), RODATA|NOPTR, $64

// Loads and shuffles the weight bytes of half h: ql[64h:] in Y3, ql[64h+32:] in Y12, qh[32h:] in Y13.
#define LOADH(h) \
	VMOVDQU (64*h)(SI), Y3; VPSHUFB q6kPerm<>(SB), Y3, Y3; \
	VMOVDQU (64*h+32)(SI), Y12; VPSHUFB q6kPerm<>(SB), Y12, Y12; \
	VMOVDQU (128+32*h)(SI), Y13; VPSHUFB q6kPerm<>(SB), Y13, Y13

// Chunks 0 and 1 of the loaded half in Y0, Y1; clobbers Y2.
#define CHUNKS01 \
	VPAND Y14, Y3, Y0; VPSLLW $4, Y13, Y1; VPAND Y15, Y1, Y1; VPOR Y1, Y0, Y0; \
	VPAND Y14, Y12, Y1; VPSLLW $2, Y13, Y2; VPAND Y15, Y2, Y2; VPOR Y2, Y1, Y1

// Chunks 2 and 3 of the loaded half in Y0, Y1; clobbers Y2.
#define CHUNKS23 \
	VPSRLW $4, Y3, Y0; VPAND Y14, Y0, Y0; VPAND Y15, Y13, Y1; VPOR Y1, Y0, Y0; \
	VPSRLW $4, Y12, Y1; VPAND Y14, Y1, Y1; VPSRLW $2, Y13, Y2; VPAND Y15, Y2, Y2; VPOR Y2, Y1, Y1

// The scale words for a chunk pair in Y2; off is the pair's shuffle in q6kSc.
#define SCALES(off) \
	VMOVDQU 192(SI), X2; VPSHUFB q6kSc<>+off(SB), X2, X2; VPMOVSXBW X2, Y2

// Adds the chunk pair in Y0, Y1 times the activation at qoff(ra) (corrections at coff(ra)) to acclo, acchi.
// Clobbers Y3, Y12, Y13.
#define PAIR(ra, qoff, coff, acclo, acchi) \
	VPMADDUBSW qoff(ra), Y0, Y3; VPSUBW coff(ra), Y3, Y3; \
	VPMADDUBSW qoff+32(ra), Y1, Y12; VPSUBW coff+32(ra), Y12, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD Y2, Y3, Y3; VPADDD Y3, acclo, acclo; \
	VPMADDWD Y2, Y13, Y13; VPADDD Y13, acchi, acchi

// Ends a block for one activation row: lanes acclo, acchi → float, times d = X0·ra.d, added to the 8 sums at
// soff(SP); zeroes acclo, acchi. Clobbers Y1, Y2, Y3.
#define FINISH(ra, acclo, acchi, soff) \
	VMULSS 512(ra), X0, X1; VBROADCASTSS X1, Y1; \
	VPERM2I128 $0x20, acchi, acclo, Y2; VPERM2I128 $0x31, acchi, acclo, Y3; VPADDD Y3, Y2, Y2; \
	VCVTDQ2PS Y2, Y2; VMULPS Y2, Y1, Y2; \
	VMOVUPS soff(SP), Y3; VADDPS Y2, Y3, Y3; VMOVUPS Y3, soff(SP); \
	VPXOR acclo, acclo, acclo; VPXOR acchi, acchi, acchi

// Sums the 8 lane sums at soff(SP) in order into out (the port's final loop). Clobbers X0.
#define REDUCE(soff, out) \
	VXORPS X0, X0, X0; \
	VADDSS soff+0(SP), X0, X0; VADDSS soff+4(SP), X0, X0; VADDSS soff+8(SP), X0, X0; VADDSS soff+12(SP), X0, X0; \
	VADDSS soff+16(SP), X0, X0; VADDSS soff+20(SP), X0, X0; VADDSS soff+24(SP), X0, X0; VADDSS soff+28(SP), X0, X0; \
	VMOVSS X0, out

// func dotQ6KAVX2x4(w *byte, nb int, a0, a1, a2, a3 *q6kAct, tab *float32, out *[4]float32)
TEXT ·dotQ6KAVX2x4(SB), NOSPLIT, $128-64
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ a0+16(FP), DI
	MOVQ a1+24(FP), R9
	MOVQ a2+32(FP), R10
	MOVQ a3+40(FP), R11
	MOVQ tab+48(FP), BX
	VMOVDQU q6kLow4<>(SB), Y14
	VMOVDQU q6kBits45<>(SB), Y15
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
q6k4loop:
	LOADH(0)
	CHUNKS01
	SCALES(0)
	PAIR(DI, 0, 256, Y4, Y5)
	PAIR(R9, 0, 256, Y6, Y7)
	PAIR(R10, 0, 256, Y8, Y9)
	PAIR(R11, 0, 256, Y10, Y11)
	LOADH(0)
	CHUNKS23
	SCALES(16)
	PAIR(DI, 64, 320, Y4, Y5)
	PAIR(R9, 64, 320, Y6, Y7)
	PAIR(R10, 64, 320, Y8, Y9)
	PAIR(R11, 64, 320, Y10, Y11)
	LOADH(1)
	CHUNKS01
	SCALES(32)
	PAIR(DI, 128, 384, Y4, Y5)
	PAIR(R9, 128, 384, Y6, Y7)
	PAIR(R10, 128, 384, Y8, Y9)
	PAIR(R11, 128, 384, Y10, Y11)
	LOADH(1)
	CHUNKS23
	SCALES(48)
	PAIR(DI, 192, 448, Y4, Y5)
	PAIR(R9, 192, 448, Y6, Y7)
	PAIR(R10, 192, 448, Y8, Y9)
	PAIR(R11, 192, 448, Y10, Y11)
	MOVWLZX 208(SI), AX
	VMOVSS (BX)(AX*4), X0
	FINISH(DI, Y4, Y5, 0)
	FINISH(R9, Y6, Y7, 32)
	FINISH(R10, Y8, Y9, 64)
	FINISH(R11, Y10, Y11, 96)
	ADDQ $210, SI
	ADDQ $544, DI
	ADDQ $544, R9
	ADDQ $544, R10
	ADDQ $544, R11
	DECQ CX
	JNZ  q6k4loop
	MOVQ out+56(FP), R8
	REDUCE(0, 0(R8))
	REDUCE(32, 4(R8))
	REDUCE(64, 8(R8))
	REDUCE(96, 12(R8))
	VZEROUPPER
	RET

// func dotQ6KAVX2x1(w *byte, nb int, act *q6kAct, tab *float32, out *float32)
TEXT ·dotQ6KAVX2x1(SB), NOSPLIT, $32-40
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ act+16(FP), DI
	MOVQ tab+24(FP), BX
	VMOVDQU q6kLow4<>(SB), Y14
	VMOVDQU q6kBits45<>(SB), Y15
	VPXOR Y4, Y4, Y4
	VMOVDQU Y4, 0(SP)
	VPXOR Y5, Y5, Y5
q6k1loop:
	LOADH(0)
	CHUNKS01
	SCALES(0)
	PAIR(DI, 0, 256, Y4, Y5)
	LOADH(0)
	CHUNKS23
	SCALES(16)
	PAIR(DI, 64, 320, Y4, Y5)
	LOADH(1)
	CHUNKS01
	SCALES(32)
	PAIR(DI, 128, 384, Y4, Y5)
	LOADH(1)
	CHUNKS23
	SCALES(48)
	PAIR(DI, 192, 448, Y4, Y5)
	MOVWLZX 208(SI), AX
	VMOVSS (BX)(AX*4), X0
	FINISH(DI, Y4, Y5, 0)
	ADDQ $210, SI
	ADDQ $544, DI
	DECQ CX
	JNZ  q6k1loop
	MOVQ out+32(FP), R8
	REDUCE(0, 0(R8))
	VZEROUPPER
	RET
