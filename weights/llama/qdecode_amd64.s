//go:build amd64 && !purego

#include "textflag.h"

// Expands the 16 bytes in xsrc to 16 floats: zero- or sign-extended (ext = VPMOVZXBD or VPMOVSXBD),
// converted, multiplied by the scale in sc and stored at off(DI) and off+32(DI). Clobbers Y8, Y9, X10.
#define EXPAND16(ext, xsrc, sc, off) \
	ext xsrc, Y8; VCVTDQ2PS Y8, Y8; VMULPS sc, Y8, Y8; VMOVUPS Y8, off(DI); \
	VPSHUFD $0x4E, xsrc, X10; ext X10, Y9; VCVTDQ2PS Y9, Y9; VMULPS sc, Y9, Y9; VMOVUPS Y9, off+32(DI)

// func expandQ8AVX2(src *byte, n int, scales *float32, dst *float32)
TEXT ·expandQ8AVX2(SB), NOSPLIT, $0-32
	MOVQ src+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ scales+16(FP), DX
	MOVQ dst+24(FP), DI
q8loop:
	VBROADCASTSS (DX), Y7
	VMOVDQU 2(SI), X0
	VMOVDQU 18(SI), X1
	VPMOVSXBD X0, Y8
	VCVTDQ2PS Y8, Y8
	VMULPS Y7, Y8, Y8
	VMOVUPS Y8, 0(DI)
	VPSHUFD $0x4E, X0, X10
	VPMOVSXBD X10, Y9
	VCVTDQ2PS Y9, Y9
	VMULPS Y7, Y9, Y9
	VMOVUPS Y9, 32(DI)
	VPMOVSXBD X1, Y8
	VCVTDQ2PS Y8, Y8
	VMULPS Y7, Y8, Y8
	VMOVUPS Y8, 64(DI)
	VPSHUFD $0x4E, X1, X10
	VPMOVSXBD X10, Y9
	VCVTDQ2PS Y9, Y9
	VMULPS Y7, Y9, Y9
	VMOVUPS Y9, 96(DI)
	ADDQ $34, SI
	ADDQ $4, DX
	ADDQ $128, DI
	DECQ CX
	JNZ  q8loop
	VZEROUPPER
	RET

// Expands the 32 unsigned bytes of ysrc (xsrc its low half) to 32 floats d·q − m at off(DI).
// Clobbers Y8, Y9, X10, X11.
#define EXPAND32DM(ysrc, xsrc, d, m, off) \
	VPMOVZXBD xsrc, Y8; VCVTDQ2PS Y8, Y8; VMULPS d, Y8, Y8; VSUBPS m, Y8, Y8; VMOVUPS Y8, off(DI); \
	VPSHUFD $0x4E, xsrc, X10; VPMOVZXBD X10, Y9; VCVTDQ2PS Y9, Y9; VMULPS d, Y9, Y9; VSUBPS m, Y9, Y9; VMOVUPS Y9, off+32(DI); \
	VEXTRACTI128 $1, ysrc, X11; VPMOVZXBD X11, Y8; VCVTDQ2PS Y8, Y8; VMULPS d, Y8, Y8; VSUBPS m, Y8, Y8; VMOVUPS Y8, off+64(DI); \
	VPSHUFD $0x4E, X11, X10; VPMOVZXBD X10, Y9; VCVTDQ2PS Y9, Y9; VMULPS d, Y9, Y9; VSUBPS m, Y9, Y9; VMOVUPS Y9, off+96(DI)

// func expandQ4KAVX2(qs *byte, dm *float32, dst *float32)
TEXT ·expandQ4KAVX2(SB), NOSPLIT, $0-24
	MOVQ qs+0(FP), SI
	MOVQ dm+8(FP), DX
	MOVQ dst+16(FP), DI
	MOVL $0x0F0F0F0F, AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVQ $4, CX
q4kloop:
	VMOVDQU (SI), Y0
	VPAND   Y15, Y0, Y1
	VPSRLW  $4, Y0, Y2
	VPAND   Y15, Y2, Y2
	VBROADCASTSS 0(DX), Y3
	VBROADCASTSS 4(DX), Y4
	VBROADCASTSS 8(DX), Y5
	VBROADCASTSS 12(DX), Y6
	EXPAND32DM(Y1, X1, Y3, Y4, 0)
	EXPAND32DM(Y2, X2, Y5, Y6, 128)
	ADDQ $32, SI
	ADDQ $16, DX
	ADDQ $256, DI
	DECQ CX
	JNZ  q4kloop
	VZEROUPPER
	RET

// Expands the 32 signed bytes of ysrc (xsrc its low half) to 32 floats at off(DI), the first 16 scaled by s0, the
// others by s1. Clobbers Y8, Y9, X10, X11.
#define EXPAND32S(ysrc, xsrc, s0, s1, off) \
	EXPAND16(VPMOVSXBD, xsrc, s0, off); \
	VEXTRACTI128 $1, ysrc, X11; EXPAND16(VPMOVSXBD, X11, s1, off+64)

// func expandQ6KAVX2(ql, qh *byte, sc *float32, dst *float32)
TEXT ·expandQ6KAVX2(SB), NOSPLIT, $0-32
	MOVQ ql+0(FP), SI
	MOVQ qh+8(FP), BX
	MOVQ sc+16(FP), DX
	MOVQ dst+24(FP), DI
	MOVL $0x0F0F0F0F, AX
	MOVD AX, X15
	VPBROADCASTD X15, Y15      // low nibbles
	MOVL $0x30303030, AX
	MOVD AX, X14
	VPBROADCASTD X14, Y14      // bits 4 and 5
	MOVL $0x20202020, AX
	MOVD AX, X13
	VPBROADCASTD X13, Y13      // 32
	VMOVDQU (SI), Y0           // ql[0:32]
	VMOVDQU 32(SI), Y12        // ql[32:64]
	VMOVDQU (BX), Y7           // qh[0:32]

	// q1 = (ql[l] & 0xF | (qh[l] & 3) << 4) − 32 → values 0…31, scales sc[0], sc[1]
	VPAND   Y15, Y0, Y1
	VPSLLW  $4, Y7, Y2
	VPAND   Y14, Y2, Y2
	VPOR    Y2, Y1, Y1
	VPSUBB  Y13, Y1, Y1
	VBROADCASTSS 0(DX), Y5
	VBROADCASTSS 4(DX), Y6
	EXPAND32S(Y1, X1, Y5, Y6, 0)

	// q2 = (ql[l+32] & 0xF | (qh[l]>>2 & 3) << 4) − 32 → values 32…63, scales sc[2], sc[3]
	VPAND   Y15, Y12, Y1
	VPSLLW  $2, Y7, Y2
	VPAND   Y14, Y2, Y2
	VPOR    Y2, Y1, Y1
	VPSUBB  Y13, Y1, Y1
	VBROADCASTSS 8(DX), Y5
	VBROADCASTSS 12(DX), Y6
	EXPAND32S(Y1, X1, Y5, Y6, 128)

	// q3 = (ql[l] >> 4 | (qh[l]>>4 & 3) << 4) − 32 → values 64…95, scales sc[4], sc[5]
	VPSRLW  $4, Y0, Y1
	VPAND   Y15, Y1, Y1
	VPAND   Y14, Y7, Y2
	VPOR    Y2, Y1, Y1
	VPSUBB  Y13, Y1, Y1
	VBROADCASTSS 16(DX), Y5
	VBROADCASTSS 20(DX), Y6
	EXPAND32S(Y1, X1, Y5, Y6, 256)

	// q4 = (ql[l+32] >> 4 | (qh[l]>>6 & 3) << 4) − 32 → values 96…127, scales sc[6], sc[7]
	VPSRLW  $4, Y12, Y1
	VPAND   Y15, Y1, Y1
	VPSRLW  $2, Y7, Y2
	VPAND   Y14, Y2, Y2
	VPOR    Y2, Y1, Y1
	VPSUBB  Y13, Y1, Y1
	VBROADCASTSS 24(DX), Y5
	VBROADCASTSS 28(DX), Y6
	EXPAND32S(Y1, X1, Y5, Y6, 384)
	VZEROUPPER
	RET
