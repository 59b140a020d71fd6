//go:build amd64 && !purego

#include "textflag.h"

// The Q4_K int8 kernel in two steps (see int8_q4ku_amd64.go). quantMatrix.dotQ8_K's Q4_K branch sums, per
// super-block, sc[k/32]·x[k]·q[k] into lane k%8 (q the unsigned 4-bit value), adds d·lane to 8 float lane sums,
// and subtracts dmin·Σ_g bsums[g]·min[g/2] from a float sum that the lane sums are added to at the end.
//
// q4kUnpackAVX2 unpacks a weight row once per call into blocks of 448 bytes: at 32c the 32 values of sub-block c
// (low nibbles of qs[32(c/2):] for even c, high ones for odd c), shuffled within 128-bit halves into
// int8KBlock's order 0,8,1,9,…; at 256+32p the scale words of sub-blocks 2p, 2p+1 (int16, alternating); at 384
// the 16 words min[g/2]; at 416 dx and at 420 dmin as float32 (gguf.FP16ToFP32 through q6kFP16).
//
// q4kDotAVX2 takes the activation rows four at a time, then one at a time. vpmaddubsw multiplies the unsigned
// 4-bit values by the signed activations (pair sums at most 2·15·128: no saturation); the two sub-blocks of a
// pair are unpacked side by side (vpunpck{l,h}wd) and vpmaddwd multiplies them by their scales and adds them into
// int32 lanes: acclo holds lanes 0…3 in both 128-bit halves, acchi lanes 4…7; at the end of a block the halves
// are added, giving the port's aux[0…7] (exact in any order), which is converted, multiplied by d = dx·x.d and
// added to the lane sums (mul, then add: no FMA). The mins term: vpmaddwd of bsums with the min words, the 8
// lanes added (exact), converted, times dmin·x.d, subtracted from the row's sumf, as the port does.

DATA q4kShuf<>+0(SB)/8, $0x0b030a0209010800
DATA q4kShuf<>+8(SB)/8, $0x0f070e060d050c04
DATA q4kShuf<>+16(SB)/8, $0x0b030a0209010800
DATA q4kShuf<>+24(SB)/8, $0x0f070e060d050c04
GLOBL q4kShuf<>(SB), RODATA|NOPTR, $32

DATA q4kLow4<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q4kLow4<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q4kLow4<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA q4kLow4<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL q4kLow4<>(SB), RODATA|NOPTR, $32

// Unpacks qs[32j:32j+32] of the block at SI into sub-blocks 2j, 2j+1 at 64j(DI), 64j+32(DI).
#define NIBBLES(j) \
	VMOVDQU (16+32*j)(SI), Y0; VPSHUFB Y11, Y0, Y0; VPAND Y12, Y0, Y1; VMOVDQU Y1, (64*j)(DI); \
	VPSRLW $4, Y0, Y0; VPAND Y12, Y0, Y0; VMOVDQU Y0, (64*j+32)(DI)

// func q4kUnpackAVX2(w *byte, nb int, u *byte)
TEXT ·q4kUnpackAVX2(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ u+16(FP), DI
	MOVQ ·q6kFP16(SB), BX
	TESTQ CX, CX
	JLE  unpackdone
	VMOVDQU q4kShuf<>(SB), Y11
	VMOVDQU q4kLow4<>(SB), Y12
unpackblock:
	NIBBLES(0)
	NIBBLES(1)
	NIBBLES(2)
	NIBBLES(3)
	// Scales and mins (get_scale_min_k4 for all 8 sub-blocks): u0, u1, u2 the three words of scales[12].
	MOVL 4(SI), AX   // u0
	MOVL 8(SI), DX   // u1
	MOVL 12(SI), R8  // u2
	MOVL R8, R9
	SHRL $4, R9
	ANDL $0x0f0f0f0f, R9
	MOVL DX, R10
	SHRL $6, R10
	ANDL $0x03030303, R10
	SHLL $4, R10
	ORL  R10, R9          // mins 4-7
	ANDL $0x3f3f3f3f, DX  // mins 0-3
	ANDL $0x0f0f0f0f, R8
	MOVL AX, R10
	SHRL $6, R10
	ANDL $0x03030303, R10
	SHLL $4, R10
	ORL  R10, R8          // scales 4-7
	ANDL $0x3f3f3f3f, AX  // scales 0-3
	SHLQ $32, R8
	ORQ  R8, AX           // 8 scales
	SHLQ $32, R9
	ORQ  R9, DX           // 8 mins
	VMOVQ AX, X2
	VPMOVZXBW X2, X2      // scale words 0…7
	VPSHUFD $0x00, X2, X3
	VINSERTI128 $1, X3, Y3, Y3
	VMOVDQU Y3, 256(DI)   // sc0, sc1 alternating
	VPSHUFD $0x55, X2, X3
	VINSERTI128 $1, X3, Y3, Y3
	VMOVDQU Y3, 288(DI)
	VPSHUFD $0xaa, X2, X3
	VINSERTI128 $1, X3, Y3, Y3
	VMOVDQU Y3, 320(DI)
	VPSHUFD $0xff, X2, X3
	VINSERTI128 $1, X3, Y3, Y3
	VMOVDQU Y3, 352(DI)
	VMOVQ DX, X4
	VPMOVZXBW X4, X4      // min words 0…7
	VPUNPCKLWD X4, X4, X5
	VPUNPCKHWD X4, X4, X4
	VINSERTI128 $1, X4, Y5, Y5
	VMOVDQU Y5, 384(DI)   // min[g/2], g = 0…15
	MOVWLZX 0(SI), AX
	VMOVSS (BX)(AX*4), X6
	VMOVSS X6, 416(DI)
	MOVWLZX 2(SI), AX
	VMOVSS (BX)(AX*4), X6
	VMOVSS X6, 420(DI)
	ADDQ $144, SI
	ADDQ $448, DI
	DECQ CX
	JNZ  unpackblock
	VZEROUPPER
unpackdone:
	RET

// Loads the sub-block pair p of the unpacked block at SI into Y0, Y1 and its scale words into Y14.
#define LOADP(p) \
	VMOVDQU (64*p)(SI), Y0; VMOVDQU (64*p+32)(SI), Y1; VMOVDQU (256+32*p)(SI), Y14

// Adds the pair in Y0, Y1 (scale words Y14) times the activation values at 64p(ra) to acclo, acchi.
// Clobbers Y3, Y12, Y13.
#define PAIR(ra, p, acclo, acchi) \
	VPMADDUBSW (64*p)(ra), Y0, Y3; VPMADDUBSW (64*p+32)(ra), Y1, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD Y14, Y3, Y3; VPADDD Y3, acclo, acclo; \
	VPMADDWD Y14, Y13, Y13; VPADDD Y13, acchi, acchi

// PAIR for the first pair of a block: sets acclo, acchi.
#define PAIR0(ra, acclo, acchi) \
	VPMADDUBSW (ra), Y0, Y3; VPMADDUBSW 32(ra), Y1, Y12; \
	VPUNPCKHWD Y12, Y3, Y13; VPUNPCKLWD Y12, Y3, Y3; \
	VPMADDWD Y14, Y3, acclo; VPMADDWD Y14, Y13, acchi

// Ends a block for one activation row: aux = the halves of acclo, acchi added; converted, times d (broadcast
// from doff(SP)), added to the 8 sums at soff(SP). Clobbers Y3, Y12, Y13.
#define FINISH(acclo, acchi, soff, doff) \
	VBROADCASTSS doff(SP), Y13; \
	VPERM2I128 $0x20, acchi, acclo, Y3; VPERM2I128 $0x31, acchi, acclo, Y12; VPADDD Y12, Y3, Y3; \
	VCVTDQ2PS Y3, Y3; VMULPS Y3, Y13, Y3; \
	VADDPS soff(SP), Y3, Y3; VMOVUPS Y3, soff(SP)

// a = the lane pairs of a and b interleaved and added: [a0+a2, b0+b2, a1+a3, b1+b3] in each 128-bit half.
#define PAIRSUM(a, b, t) \
	VPUNPCKHDQ b, a, t; VPUNPCKLDQ b, a, a; VPADDD t, a, a

// a = [a0+a2, a1+a3, b0+b2, b1+b3] in each half: for a, b from PAIRSUM, each 128-bit half's sums of 4 rows.
#define QUADSUM(a, b, t) \
	VPUNPCKHQDQ b, a, t; VPUNPCKLQDQ b, a, a; VPADDD t, a, a

// Adds the 8 lane sums at soff(SP) in order to the row's sumf at foff(SP) into (R8), then steps R8 to the next
// row's y (the port's last loop). Clobbers X0.
#define REDUCE(soff, foff) \
	VMOVSS foff(SP), X0; \
	VADDSS soff+0(SP), X0, X0; VADDSS soff+4(SP), X0, X0; VADDSS soff+8(SP), X0, X0; VADDSS soff+12(SP), X0, X0; \
	VADDSS soff+16(SP), X0, X0; VADDSS soff+20(SP), X0, X0; VADDSS soff+24(SP), X0, X0; VADDSS soff+28(SP), X0, X0; \
	VMOVSS X0, (R8); ADDQ R13, R8

// func q4kDotAVX2(y *float32, ystride int, u *byte, x *int8KBlock, nb, nx int)
// Registers: Y0, Y1 a sub-block pair, Y14 its scale words, Y2 min words, Y3/Y12/Y13 temporaries, Y4…Y11
// acclo/acchi of activation rows 0…3. SI unpacked block, DI/R9/R10/R11 activation rows' blocks, CX blocks left,
// R8 y, R12 bytes per activation row, R13 ystride bytes, DX rows left.
// Stack: 0…127 the rows' lane sums, 128…143 their sumf, 144…159 their d of the current block.
TEXT ·q4kDotAVX2(SB), NOSPLIT, $160-48
	MOVQ y+0(FP), R8
	MOVQ ystride+8(FP), R13
	SHLQ $2, R13
	MOVQ x+24(FP), DI
	MOVQ nb+32(FP), R12
	IMUL3Q $292, R12, R12
	MOVQ nx+40(FP), DX
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
	VMOVDQU X4, 128(SP)
block4:
	LOADP(0)
	PAIR0(DI, Y4, Y5)
	PAIR0(R9, Y6, Y7)
	PAIR0(R10, Y8, Y9)
	PAIR0(R11, Y10, Y11)
	LOADP(1)
	PAIR(DI, 1, Y4, Y5)
	PAIR(R9, 1, Y6, Y7)
	PAIR(R10, 1, Y8, Y9)
	PAIR(R11, 1, Y10, Y11)
	LOADP(2)
	PAIR(DI, 2, Y4, Y5)
	PAIR(R9, 2, Y6, Y7)
	PAIR(R10, 2, Y8, Y9)
	PAIR(R11, 2, Y10, Y11)
	LOADP(3)
	PAIR(DI, 3, Y4, Y5)
	PAIR(R9, 3, Y6, Y7)
	PAIR(R10, 3, Y8, Y9)
	PAIR(R11, 3, Y10, Y11)
	// The mins term of the four rows: sumi_r in the lanes of X0.
	VMOVDQU 384(SI), Y2
	VPMADDWD 256(DI), Y2, Y0
	VPMADDWD 256(R9), Y2, Y1
	VPMADDWD 256(R10), Y2, Y3
	VPMADDWD 256(R11), Y2, Y12
	PAIRSUM(Y0, Y1, Y13)
	PAIRSUM(Y3, Y12, Y13)
	QUADSUM(Y0, Y3, Y13)
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VCVTDQ2PS X0, X0
	VMOVSS 288(DI), X1     // x.d of the four rows
	VINSERTPS $0x10, 288(R9), X1, X1
	VINSERTPS $0x20, 288(R10), X1, X1
	VINSERTPS $0x30, 288(R11), X1, X1
	VBROADCASTSS 416(SI), X3
	VMULPS X1, X3, X3      // d = dx·x.d
	VMOVUPS X3, 144(SP)
	VBROADCASTSS 420(SI), X3
	VMULPS X1, X3, X3      // dmin·x.d
	VMULPS X0, X3, X3      // ·float32(sumi)
	VMOVUPS 128(SP), X12
	VSUBPS X3, X12, X12    // sumf −= …
	VMOVUPS X12, 128(SP)
	FINISH(Y4, Y5, 0, 144)
	FINISH(Y6, Y7, 32, 148)
	FINISH(Y8, Y9, 64, 152)
	FINISH(Y10, Y11, 96, 156)
	ADDQ $448, SI
	ADDQ $292, DI
	ADDQ $292, R9
	ADDQ $292, R10
	ADDQ $292, R11
	DECQ CX
	JNZ  block4
	REDUCE(0, 128)
	REDUCE(32, 132)
	REDUCE(64, 136)
	REDUCE(96, 140)
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
	VMOVDQU X4, 128(SP)
block1:
	LOADP(0)
	PAIR0(DI, Y4, Y5)
	LOADP(1)
	PAIR(DI, 1, Y4, Y5)
	LOADP(2)
	PAIR(DI, 2, Y4, Y5)
	LOADP(3)
	PAIR(DI, 3, Y4, Y5)
	VMOVDQU 384(SI), Y2
	VPMADDWD 256(DI), Y2, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0x4e, X0, X1
	VPADDD X1, X0, X0
	VPSHUFD $0xb1, X0, X1
	VPADDD X1, X0, X0
	VCVTDQ2PS X0, X0       // float32(sumi)
	VMOVSS 416(SI), X3
	VMULSS 288(DI), X3, X3 // d = dx·x.d
	VMOVSS X3, 144(SP)
	VMOVSS 420(SI), X3
	VMULSS 288(DI), X3, X3 // dmin·x.d
	VMULSS X0, X3, X3
	VMOVSS 128(SP), X12
	VSUBSS X3, X12, X12
	VMOVSS X12, 128(SP)
	FINISH(Y4, Y5, 0, 144)
	ADDQ $448, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  block1
	REDUCE(0, 128)
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
