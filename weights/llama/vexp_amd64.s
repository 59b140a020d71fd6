//go:build amd64 && !purego

#include "textflag.h"

// Constants of expf8AVX2, each repeated in eight lanes: the algorithm of ggml_v_expf (adapted by ggml from
// ARM's optimized routines; at most 1.5 ulp from e^x).
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
GLOBL expc<>(SB), RODATA|NOPTR, $480

// func expf8AVX2(dst, src *float32, n int)
//
// Sets dst[i] = e^src[i] for i < n, n a positive multiple of 8: z = x·log2(e) rounded by adding 1.5·2^23,
// the reduced argument b = x − n·ln2 in two parts, a degree-5 polynomial j ≈ e^b − 1, and k = 2^n built in the
// exponent bits, giving k + k·j. Lanes with |n| > 126 take ggml's two-factor scaling, which overflows to +Inf
// and underflows to 0 correctly.
TEXT ·expf8AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y15, Y15, Y15

loop:
	VMOVUPS (SI), Y0             // x
	VMOVUPS expc<>+0(SB), Y1
	VFMADD231PS expc<>+32(SB), Y0, Y1   // z = x·log2(e) + r
	VSUBPS expc<>+0(SB), Y1, Y2          // n = z − r
	VMOVAPS Y0, Y3
	VFNMADD231PS expc<>+64(SB), Y2, Y3
	VFNMADD231PS expc<>+96(SB), Y2, Y3  // b = x − n·ln2
	VPSLLD $23, Y1, Y4             // e = bits(z) << 23
	VPADDD expc<>+288(SB), Y4, Y5        // k = 2^n
	VANDPS expc<>+384(SB), Y2, Y6
	VCMPPS $0x1e, expc<>+320(SB), Y6, Y6  // c = |n| > 126
	VMULPS Y3, Y3, Y7              // u = b²
	VMOVUPS expc<>+256(SB), Y8
	VFMADD213PS expc<>+224(SB), Y3, Y8
	VMOVUPS expc<>+192(SB), Y9
	VFMADD213PS expc<>+160(SB), Y3, Y9
	VFMADD213PS Y9, Y7, Y8
	VMULPS expc<>+128(SB), Y3, Y10
	VFMADD213PS Y10, Y7, Y8         // j
	VMOVMSKPS Y6, AX
	TESTL AX, AX
	JNZ  special
	VFMADD213PS Y5, Y5, Y8         // k + k·j
	VMOVUPS Y8, (DI)

next:
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ  loop
	VZEROUPPER
	RET

special:
	VCMPPS $2, Y15, Y2, Y11        // n <= 0
	VANDPS expc<>+416(SB), Y11, Y11      // g
	VPADDD expc<>+448(SB), Y11, Y12      // s1
	VPSUBD Y11, Y4, Y13            // s2 = e − g
	VANDPS expc<>+384(SB), Y2, Y14
	VCMPPS $0x1e, expc<>+352(SB), Y14, Y14 // d = |n| > 192
	VMULPS Y12, Y12, Y10           // s1·s1
	VMOVAPS Y8, Y9
	VFMADD213PS Y13, Y13, Y9       // s2 + s2·j
	VMULPS Y12, Y9, Y9             // (s2 + s2·j)·s1
	VFMADD213PS Y5, Y5, Y8         // k + k·j
	VBLENDVPS Y6, Y9, Y8, Y8
	VBLENDVPS Y14, Y10, Y8, Y8
	VMOVUPS Y8, (DI)
	JMP  next
