//go:build amd64 && !purego

#include "textflag.h"

// Constants of the exponential, each repeated in eight lanes: the algorithm of ggml_v_expf (adapted by ggml
// from ARM's optimized routines; at most 1.5 ulp from e^x).
DATA expc<>+0(SB)/4, $0x4b400000
DATA expc<>+4(SB)/4, $0x4b400000
DATA expc<>+8(SB)/4, $0x4b400000
DATA expc<>+12(SB)/4, $0x4b400000
DATA expc<>+16(SB)/4, $0x4b400000
DATA expc<>+20(SB)/4, $0x4b400000
DATA expc<>+24(SB)/4, $0x4b400000
DATA expc<>+28(SB)/4, $0x4b400000
DATA expc<>+32(SB)/4, $0x3fb8aa3b
DATA expc<>+36(SB)/4, $0x3fb8aa3b
DATA expc<>+40(SB)/4, $0x3fb8aa3b
DATA expc<>+44(SB)/4, $0x3fb8aa3b
DATA expc<>+48(SB)/4, $0x3fb8aa3b
DATA expc<>+52(SB)/4, $0x3fb8aa3b
DATA expc<>+56(SB)/4, $0x3fb8aa3b
DATA expc<>+60(SB)/4, $0x3fb8aa3b
DATA expc<>+64(SB)/4, $0x3f317200
DATA expc<>+68(SB)/4, $0x3f317200
DATA expc<>+72(SB)/4, $0x3f317200
DATA expc<>+76(SB)/4, $0x3f317200
DATA expc<>+80(SB)/4, $0x3f317200
DATA expc<>+84(SB)/4, $0x3f317200
DATA expc<>+88(SB)/4, $0x3f317200
DATA expc<>+92(SB)/4, $0x3f317200
DATA expc<>+96(SB)/4, $0x35bfbe8e
DATA expc<>+100(SB)/4, $0x35bfbe8e
DATA expc<>+104(SB)/4, $0x35bfbe8e
DATA expc<>+108(SB)/4, $0x35bfbe8e
DATA expc<>+112(SB)/4, $0x35bfbe8e
DATA expc<>+116(SB)/4, $0x35bfbe8e
DATA expc<>+120(SB)/4, $0x35bfbe8e
DATA expc<>+124(SB)/4, $0x35bfbe8e
DATA expc<>+128(SB)/4, $0x3f7ffff6
DATA expc<>+132(SB)/4, $0x3f7ffff6
DATA expc<>+136(SB)/4, $0x3f7ffff6
DATA expc<>+140(SB)/4, $0x3f7ffff6
DATA expc<>+144(SB)/4, $0x3f7ffff6
DATA expc<>+148(SB)/4, $0x3f7ffff6
DATA expc<>+152(SB)/4, $0x3f7ffff6
DATA expc<>+156(SB)/4, $0x3f7ffff6
DATA expc<>+160(SB)/4, $0x3efffedb
DATA expc<>+164(SB)/4, $0x3efffedb
DATA expc<>+168(SB)/4, $0x3efffedb
DATA expc<>+172(SB)/4, $0x3efffedb
DATA expc<>+176(SB)/4, $0x3efffedb
DATA expc<>+180(SB)/4, $0x3efffedb
DATA expc<>+184(SB)/4, $0x3efffedb
DATA expc<>+188(SB)/4, $0x3efffedb
DATA expc<>+192(SB)/4, $0x3e2aaf33
DATA expc<>+196(SB)/4, $0x3e2aaf33
DATA expc<>+200(SB)/4, $0x3e2aaf33
DATA expc<>+204(SB)/4, $0x3e2aaf33
DATA expc<>+208(SB)/4, $0x3e2aaf33
DATA expc<>+212(SB)/4, $0x3e2aaf33
DATA expc<>+216(SB)/4, $0x3e2aaf33
DATA expc<>+220(SB)/4, $0x3e2aaf33
DATA expc<>+224(SB)/4, $0x3d2b9f17
DATA expc<>+228(SB)/4, $0x3d2b9f17
DATA expc<>+232(SB)/4, $0x3d2b9f17
DATA expc<>+236(SB)/4, $0x3d2b9f17
DATA expc<>+240(SB)/4, $0x3d2b9f17
DATA expc<>+244(SB)/4, $0x3d2b9f17
DATA expc<>+248(SB)/4, $0x3d2b9f17
DATA expc<>+252(SB)/4, $0x3d2b9f17
DATA expc<>+256(SB)/4, $0x3c072010
DATA expc<>+260(SB)/4, $0x3c072010
DATA expc<>+264(SB)/4, $0x3c072010
DATA expc<>+268(SB)/4, $0x3c072010
DATA expc<>+272(SB)/4, $0x3c072010
DATA expc<>+276(SB)/4, $0x3c072010
DATA expc<>+280(SB)/4, $0x3c072010
DATA expc<>+284(SB)/4, $0x3c072010
DATA expc<>+288(SB)/4, $0x3f800000
DATA expc<>+292(SB)/4, $0x3f800000
DATA expc<>+296(SB)/4, $0x3f800000
DATA expc<>+300(SB)/4, $0x3f800000
DATA expc<>+304(SB)/4, $0x3f800000
DATA expc<>+308(SB)/4, $0x3f800000
DATA expc<>+312(SB)/4, $0x3f800000
DATA expc<>+316(SB)/4, $0x3f800000
DATA expc<>+320(SB)/4, $0x42fc0000
DATA expc<>+324(SB)/4, $0x42fc0000
DATA expc<>+328(SB)/4, $0x42fc0000
DATA expc<>+332(SB)/4, $0x42fc0000
DATA expc<>+336(SB)/4, $0x42fc0000
DATA expc<>+340(SB)/4, $0x42fc0000
DATA expc<>+344(SB)/4, $0x42fc0000
DATA expc<>+348(SB)/4, $0x42fc0000
DATA expc<>+352(SB)/4, $0x43400000
DATA expc<>+356(SB)/4, $0x43400000
DATA expc<>+360(SB)/4, $0x43400000
DATA expc<>+364(SB)/4, $0x43400000
DATA expc<>+368(SB)/4, $0x43400000
DATA expc<>+372(SB)/4, $0x43400000
DATA expc<>+376(SB)/4, $0x43400000
DATA expc<>+380(SB)/4, $0x43400000
DATA expc<>+384(SB)/4, $0x7fffffff
DATA expc<>+388(SB)/4, $0x7fffffff
DATA expc<>+392(SB)/4, $0x7fffffff
DATA expc<>+396(SB)/4, $0x7fffffff
DATA expc<>+400(SB)/4, $0x7fffffff
DATA expc<>+404(SB)/4, $0x7fffffff
DATA expc<>+408(SB)/4, $0x7fffffff
DATA expc<>+412(SB)/4, $0x7fffffff
DATA expc<>+416(SB)/4, $0x82000000
DATA expc<>+420(SB)/4, $0x82000000
DATA expc<>+424(SB)/4, $0x82000000
DATA expc<>+428(SB)/4, $0x82000000
DATA expc<>+432(SB)/4, $0x82000000
DATA expc<>+436(SB)/4, $0x82000000
DATA expc<>+440(SB)/4, $0x82000000
DATA expc<>+444(SB)/4, $0x82000000
DATA expc<>+448(SB)/4, $0x7f000000
DATA expc<>+452(SB)/4, $0x7f000000
DATA expc<>+456(SB)/4, $0x7f000000
DATA expc<>+460(SB)/4, $0x7f000000
DATA expc<>+464(SB)/4, $0x7f000000
DATA expc<>+468(SB)/4, $0x7f000000
DATA expc<>+472(SB)/4, $0x7f000000
DATA expc<>+476(SB)/4, $0x7f000000
DATA expc<>+480(SB)/4, $0x80000000
DATA expc<>+484(SB)/4, $0x80000000
DATA expc<>+488(SB)/4, $0x80000000
DATA expc<>+492(SB)/4, $0x80000000
DATA expc<>+496(SB)/4, $0x80000000
DATA expc<>+500(SB)/4, $0x80000000
DATA expc<>+504(SB)/4, $0x80000000
DATA expc<>+508(SB)/4, $0x80000000
DATA expc<>+512(SB)/4, $0xff800000
DATA expc<>+516(SB)/4, $0xff800000
DATA expc<>+520(SB)/4, $0xff800000
DATA expc<>+524(SB)/4, $0xff800000
DATA expc<>+528(SB)/4, $0xff800000
DATA expc<>+532(SB)/4, $0xff800000
DATA expc<>+536(SB)/4, $0xff800000
DATA expc<>+540(SB)/4, $0xff800000
GLOBL expc<>(SB), RODATA|NOPTR, $544

// EXP8 sets Y8 = e^Y0 lane by lane: z = x·log2(e) rounded by adding 1.5·2^23, b = x − n·ln2 in two parts, a
// degree-5 polynomial j ≈ e^b − 1 and k = 2^n built in the exponent bits give k + k·j; lanes with |n| > 126
// take ggml's two-factor scaling (blended in without a branch), which overflows to +Inf and underflows to 0;
// its factors are 1 in the other lanes, where they would otherwise make subnormals the CPU computes slowly.
// It clobbers Y1..Y12.
#define EXP8 \
	VMOVUPS expc<>+0(SB), Y1; \
	VFMADD231PS expc<>+32(SB), Y0, Y1; \
	VSUBPS expc<>+0(SB), Y1, Y2; \
	VMOVAPS Y0, Y3; \
	VFNMADD231PS expc<>+64(SB), Y2, Y3; \
	VFNMADD231PS expc<>+96(SB), Y2, Y3; \
	VPSLLD $23, Y1, Y4; \
	VPADDD expc<>+288(SB), Y4, Y5; \
	VANDPS expc<>+384(SB), Y2, Y6; \
	VCMPPS $0x1e, expc<>+320(SB), Y6, Y6; \
	VMULPS Y3, Y3, Y7; \
	VMOVUPS expc<>+256(SB), Y8; \
	VFMADD213PS expc<>+224(SB), Y3, Y8; \
	VMOVUPS expc<>+192(SB), Y9; \
	VFMADD213PS expc<>+160(SB), Y3, Y9; \
	VFMADD213PS Y9, Y7, Y8; \
	VMULPS expc<>+128(SB), Y3, Y10; \
	VFMADD213PS Y10, Y7, Y8; \
	VXORPS Y11, Y11, Y11; \
	VCMPPS $2, Y11, Y2, Y11; \
	VANDPS expc<>+416(SB), Y11, Y11; \
	VPADDD expc<>+448(SB), Y11, Y12; \
	VPSUBD Y11, Y4, Y9; \
	VMOVUPS expc<>+288(SB), Y10; \
	VBLENDVPS Y6, Y12, Y10, Y12; \
	VBLENDVPS Y6, Y9, Y10, Y9; \
	VANDPS expc<>+384(SB), Y2, Y7; \
	VCMPPS $0x1e, expc<>+352(SB), Y7, Y7; \
	VMULPS Y12, Y12, Y10; \
	VFMADD213PS Y9, Y8, Y9; \
	VMULPS Y12, Y9, Y9; \
	VFMADD213PS Y5, Y5, Y8; \
	VBLENDVPS Y6, Y9, Y8, Y8; \
	VBLENDVPS Y7, Y10, Y8, Y8

// func expf8AVX2(dst, src *float32, n int)
//
// Sets dst[i] = e^src[i] for i < n, n a positive multiple of 8.
TEXT ·expf8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX

loop:
	VMOVUPS (SI), Y0
	EXP8
	VMOVUPS Y8, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  loop
	VZEROUPPER
	RET

// func expSumAVX2(dst, src *float32, n int, shift float32) float64
//
// Sets dst[i] = e^(src[i] − shift) for i < n, n a positive multiple of 8, and returns the sum of the results,
// accumulated per lane in float64 (Y13 for lanes 0-3, Y14 for 4-7) and added up at the end.
TEXT ·expSumAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS shift+24(FP), Y15
	VXORPD Y13, Y13, Y13
	VXORPD Y14, Y14, Y14

loop:
	VMOVUPS (SI), Y0
	VSUBPS Y15, Y0, Y0
	EXP8
	VMOVUPS Y8, (DI)
	VCVTPS2PD X8, Y1
	VADDPD Y1, Y13, Y13
	VEXTRACTF128 $1, Y8, X2
	VCVTPS2PD X2, Y2
	VADDPD Y2, Y14, Y14
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  loop
	VADDPD Y14, Y13, Y13
	VEXTRACTF128 $1, Y13, X1
	VADDPD X1, X13, X13
	VHADDPD X13, X13, X13
	VMOVSD X13, ret+32(FP)
	VZEROUPPER
	RET

// func maxScaleAVX2(s *float32, n int, scale float32) float32
//
// Multiplies s[i] by scale for i < n, n a positive multiple of 8, and returns the largest product.
TEXT ·maxScaleAVX2(SB), NOSPLIT, $0-28
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS scale+16(FP), Y1
	VMOVUPS expc<>+512(SB), Y2

loop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	VMAXPS Y0, Y2, Y2
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  loop
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2
	VMOVSS X2, ret+24(FP)
	VZEROUPPER
	RET

// func maxAVX2(s *float32, n int) float32
//
// Returns the largest of s[i] for i < n, n a positive multiple of 8.
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS expc<>+512(SB), Y2

loop:
	VMAXPS (SI), Y2, Y2
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  loop
	VEXTRACTF128 $1, Y2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0x4e, X2, X3
	VMAXPS X3, X2, X2
	VPERMILPS $0xb1, X2, X3
	VMAXPS X3, X2, X2
	VMOVSS X2, ret+16(FP)
	VZEROUPPER
	RET

// func scaleAVX2(s *float32, n int, c float32)
//
// Multiplies s[i] by c for i < n, n a positive multiple of 8.
TEXT ·scaleAVX2(SB), NOSPLIT, $0-20
	MOVQ s+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSS c+16(FP), Y1

loop:
	VMULPS (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ $32, SI
	SUBQ $8, CX
	JNZ  loop
	VZEROUPPER
	RET

// func siluMulAVX2(hv, gv, uv *float32, n int)
//
// Sets h[i] = g[i]/(1 + e^−g[i])·u[i] for i < n, n a positive multiple of 8: SwiGLU's forward.
TEXT ·siluMulAVX2(SB), NOSPLIT, $0-32
	MOVQ hv+0(FP), DI
	MOVQ gv+8(FP), SI
	MOVQ uv+16(FP), DX
	MOVQ n+24(FP), CX

loop:
	VMOVUPS (SI), Y13
	VXORPS expc<>+480(SB), Y13, Y0
	EXP8
	VADDPS expc<>+288(SB), Y8, Y8
	VDIVPS Y8, Y13, Y13
	VMULPS (DX), Y13, Y13
	VMOVUPS Y13, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  loop
	VZEROUPPER
	RET

// func swigluBackAVX2(dg, du, dh, gv, uv *float32, n int)
//
// Sets, for i < n (a positive multiple of 8), with σ = 1/(1 + e^−g[i]): dg[i] = dh[i]·u[i]·σ·(1 + g[i]·(1−σ))
// and du[i] = dh[i]·g[i]·σ, each product rounded in that order.
TEXT ·swigluBackAVX2(SB), NOSPLIT, $0-48
	MOVQ dg+0(FP), DI
	MOVQ du+8(FP), BX
	MOVQ dh+16(FP), DX
	MOVQ gv+24(FP), SI
	MOVQ uv+32(FP), R8
	MOVQ n+40(FP), CX

loop:
	VMOVUPS (SI), Y13
	VXORPS expc<>+480(SB), Y13, Y0
	EXP8
	VMOVUPS expc<>+288(SB), Y14
	VADDPS Y14, Y8, Y8
	VDIVPS Y8, Y14, Y8          // σ
	VMOVUPS (DX), Y15           // dh
	VMULPS (R8), Y15, Y1        // dh·u
	VMULPS Y8, Y1, Y1           // ·σ
	VSUBPS Y8, Y14, Y2          // 1 − σ
	VMULPS Y2, Y13, Y2          // g·(1−σ)
	VADDPS Y14, Y2, Y2          // 1 + g·(1−σ)
	VMULPS Y2, Y1, Y1
	VMOVUPS Y1, (DI)
	VMULPS Y13, Y15, Y3         // dh·g
	VMULPS Y8, Y3, Y3           // ·σ
	VMOVUPS Y3, (BX)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, R8
	ADDQ $32, DI
	ADDQ $32, BX
	SUBQ $8, CX
	JNZ  loop
	VZEROUPPER
	RET
