// gen.c produces the golden files in this directory from ggml's own C code,
// so that the Go port can be checked bit for bit. It is not part of the Go
// build. Regenerate with ./gen.sh (needs gcc and the ollama v0.6.5 module
// source, which vendors ggml).
//
// Files written:
//   input.bin      3072 float32 test inputs (12 blocks of 256, see fill())
//   <type>.q       input quantized by quantize_row_<type>_ref (or the fp16/bf16
//                  conversion), raw block bytes
//   <type>.f32     <type>.q dequantized by dequantize_row_<type>
//   <type>.rq      <type>.f32 plus a small delta (see requant_input), quantized
//                  again: what a merged deploy does to a quantized base tensor
//   hashes.txt     FNV-1a hashes of fp16/bf16 conversions over large input sets
//
// Built without -march flags, ggml uses its portable fp16 code and no fused
// multiply-adds. With -march=native on an F16C/FMA machine the fp16 results
// differ only for NaN inputs (F16C keeps NaN payloads; checked over all 2^32
// inputs), but quantize_row_q6_K_ref changes: its float sums get contracted
// into FMAs.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml-common.h"
#include "ggml-impl.h"
#include "ggml-quants.h"

// ggml.c defines the fp16 table; this harness fills it the same way.
float ggml_table_f32_f16[1 << 16];

// ggml-quants.c references these from ggml.c; the reference paths used here
// never call them.
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    fprintf(stderr, "ggml_abort %s:%d %s\n", file, line, fmt);
    abort();
}

// Linked but unused by the reference functions called here.
size_t ggml_row_size(enum ggml_type type, int64_t ne) { (void)type; (void)ne; abort(); }
size_t ggml_type_size(enum ggml_type type) { (void)type; abort(); }
const char *ggml_type_name(enum ggml_type type) { (void)type; abort(); }

#define N (12 * 256)

static uint64_t rng_state;

static uint64_t xorshift(void) {
    uint64_t s = rng_state;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    rng_state = s;
    return s;
}

static double uniform(void) { return (double)(xorshift() >> 11) / 9007199254740992.0; }

static float gauss(float sigma) {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sigma * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
}

static void fill(float *x) {
    rng_state = 0x9E3779B97F4A7C15ull;
    for (int b = 0; b < 12; b++) {
        float *y = x + 256 * b;
        for (int i = 0; i < 256; i++) {
            float v = 0;
            switch (b) {
            case 0: v = gauss(1); break;                       // plain weights
            case 1: v = gauss(0.02f); break;                   // typical layer weights
            case 2: v = (float)uniform(); break;               // all positive
            case 3: v = -(float)uniform(); break;              // all negative
            case 4: v = 0; break;                              // all zero
            case 5: v = 0.5f; break;                           // constant
            case 6: v = (float)(i % 16 - 8); break;            // integers: exact levels, ties
            case 7: v = gauss(1e-30f); if (i % 5 == 0) v = 1e-40f * (i % 3 - 1); break; // fp16-subnormal scales
            case 8: v = gauss(1e4f); if (i % 64 == 0) v = 60000; break; // near the fp16 limit
            case 9: v = i < 128 ? 0 : gauss(3); if (i == 200) v = 100; break; // outlier
            case 10: v = (float)((i % 64) - 32) / 2.0f + ((i & 1) ? 0.25f : 0); break; // half steps
            case 11: v = gauss(powf(10, (float)((i / 16) % 7) - 3)); break; // scale changes per 16
            }
            y[i] = v;
        }
    }
}

static void write_file(const char *name, const void *data, size_t n) {
    FILE *f = fopen(name, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(name);
        exit(1);
    }
}

typedef void (*quant_fn)(const float *, void *, int64_t);
typedef void (*dequant_fn)(const void *, float *, int64_t);

static void emit(const char *name, const float *x, size_t block_bytes, size_t block_elems, quant_fn q, dequant_fn d) {
    size_t nbytes = N / block_elems * block_bytes;
    void *buf = calloc(1, nbytes);
    float *out = calloc(N, sizeof(float));
    q(x, buf, N);
    d(buf, out, N);
    char path[64];
    snprintf(path, sizeof path, "%s.q", name);
    write_file(path, buf, nbytes);
    snprintf(path, sizeof path, "%s.f32", name);
    write_file(path, out, N * sizeof(float));
    free(buf);
    free(out);
}

// requant_input is the input of a merge: y, weights as dequantized from a
// quantized file, plus a small update. The update is exact in float32 and
// computed from integers only, so the Go test rebuilds the same input from
// <type>.f32: zero in every third block (re-encoding unchanged weights), else
// k·2^-14 or k·2^-16 with k in [-16, 16].
static void requant_input(const float *y, float *r) {
    for (int i = 0; i < N; i++) {
        int b = i / 256;
        uint32_t h = (uint32_t)i * 2654435761u;
        int k = (int)((h >> 16) % 33) - 16;
        float d = b % 3 == 0 ? 0.0f : (float)k * ldexpf(1.0f, -12 - 2 * (b % 3));
        r[i] = y[i] + d;
    }
}

// emit_requant quantizes requant_input(dequantize(quantize(x))) again.
static void emit_requant(const char *name, const float *x, size_t block_bytes, size_t block_elems, quant_fn q, dequant_fn d) {
    size_t nbytes = N / block_elems * block_bytes;
    void *buf = calloc(1, nbytes);
    float *y = calloc(N, sizeof(float));
    float *r = calloc(N, sizeof(float));
    q(x, buf, N);
    d(buf, y, N);
    requant_input(y, r);
    q(r, buf, N);
    char path[64];
    snprintf(path, sizeof path, "%s.rq", name);
    write_file(path, buf, nbytes);
    free(buf);
    free(y);
    free(r);
}

static void q_f16(const float *x, void *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) ((uint16_t *)y)[i] = GGML_FP32_TO_FP16(x[i]);
}
static void d_f16(const void *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = GGML_FP16_TO_FP32(((const uint16_t *)x)[i]);
}
static void q_bf16(const float *x, void *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) ((ggml_bf16_t *)y)[i] = GGML_FP32_TO_BF16(x[i]);
}
static void d_bf16(const void *x, float *y, int64_t k) {
    for (int64_t i = 0; i < k; i++) y[i] = GGML_BF16_TO_FP32(((const ggml_bf16_t *)x)[i]);
}

#define EMIT(name, T, QK) \
    emit(#name, x, sizeof(T), QK, (quant_fn)quantize_row_##name##_ref, (dequant_fn)dequantize_row_##name); \
    emit_requant(#name, x, sizeof(T), QK, (quant_fn)quantize_row_##name##_ref, (dequant_fn)dequantize_row_##name)

// FNV-1a over 16-bit or 32-bit outputs.
static uint64_t fnv(uint64_t h, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

int main(void) {
    for (int i = 0; i < (1 << 16); i++) ggml_table_f32_f16[i] = GGML_COMPUTE_FP16_TO_FP32((ggml_fp16_t)i);

    static float x[N];
    fill(x);
    write_file("input.bin", x, sizeof x);

    emit("f16", x, 2, 1, q_f16, d_f16);
    emit_requant("f16", x, 2, 1, q_f16, d_f16);
    emit("bf16", x, 2, 1, q_bf16, d_bf16);
    emit_requant("bf16", x, 2, 1, q_bf16, d_bf16);
    EMIT(q4_0, block_q4_0, QK4_0);
    EMIT(q4_1, block_q4_1, QK4_1);
    EMIT(q5_0, block_q5_0, QK5_0);
    EMIT(q5_1, block_q5_1, QK5_1);
    EMIT(q8_0, block_q8_0, QK8_0);
    EMIT(q2_K, block_q2_K, QK_K);
    EMIT(q3_K, block_q3_K, QK_K);
    EMIT(q4_K, block_q4_K, QK_K);
    EMIT(q5_K, block_q5_K, QK_K);
    EMIT(q6_K, block_q6_K, QK_K);

    FILE *h = fopen("hashes.txt", "w");
    // fp16 -> fp32 and bf16 -> fp32 over every 16-bit pattern.
    uint64_t a = 0xcbf29ce484222325ull, b = a;
    for (uint32_t i = 0; i < (1u << 16); i++) {
        a = fnv(a, bits_of(GGML_COMPUTE_FP16_TO_FP32((ggml_fp16_t)i)), 4);
        ggml_bf16_t v = {(uint16_t)i};
        b = fnv(b, bits_of(GGML_BF16_TO_FP32(v)), 4);
    }
    fprintf(h, "fp16_to_fp32 %016llx\n", (unsigned long long)a);
    fprintf(h, "bf16_to_fp32 %016llx\n", (unsigned long long)b);
    // fp32 -> fp16/bf16 over every float32 whose low 12 bits are one of a
    // set of rounding-critical patterns (exact, ±1 ulp around the fp16 and
    // bf16 halfway points), i.e. 2^20 * 8 inputs covering every exponent.
    static const uint32_t lows[8] = {0x000, 0x001, 0x7ff, 0x800, 0x801, 0xfff, 0x400, 0xc00};
    a = 0xcbf29ce484222325ull;
    b = a;
    for (uint32_t hi = 0; hi < (1u << 20); hi++) {
        for (int k = 0; k < 8; k++) {
            // Place the pattern under bit 13 (the fp16 rounding position for
            // normal halves) and under bit 16 (bf16).
            float f = float_of((hi << 12) | lows[k]);
            float g = float_of((hi << 12) | (lows[k] << 1 & 0xfff) | (hi & 1));
            a = fnv(a, GGML_COMPUTE_FP32_TO_FP16(f), 2);
            a = fnv(a, GGML_COMPUTE_FP32_TO_FP16(g), 2);
            b = fnv(b, GGML_FP32_TO_BF16(f).bits, 2);
            b = fnv(b, GGML_FP32_TO_BF16(g).bits, 2);
        }
    }
    fprintf(h, "fp32_to_fp16 %016llx\n", (unsigned long long)a);
    fprintf(h, "fp32_to_bf16 %016llx\n", (unsigned long long)b);
    // Every float32 bit pattern (checked by the Go test only when
    // GGUF_EXHAUSTIVE is set: it takes about a minute).
    a = 0xcbf29ce484222325ull;
    b = a;
    for (uint64_t u = 0; u < (1ull << 32); u++) {
        float f = float_of((uint32_t)u);
        a = fnv(a, GGML_COMPUTE_FP32_TO_FP16(f), 2);
        b = fnv(b, GGML_FP32_TO_BF16(f).bits, 2);
    }
    fprintf(h, "fp32_to_fp16_all %016llx\n", (unsigned long long)a);
    fprintf(h, "fp32_to_bf16_all %016llx\n", (unsigned long long)b);
    fclose(h);
    return 0;
}
