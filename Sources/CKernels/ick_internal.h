/* Internal to CKernels and its C tests: variant descriptors, the exact scalar definitions, helpers. */
#ifndef ICK_INTERNAL_H
#define ICK_INTERNAL_H
/* No FMA contraction anywhere in the requant arithmetic: clang honours the pragma; for GCC the kernel test
 * build passes -ffp-contract=off (SwiftPM builds this target with clang). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
#include "ckernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define ICK_X86 1
#endif
#if defined(__aarch64__)
#define ICK_ARM64 1
#endif

#define ICK_ALIGN 64
#define ICK_ROUND_UP(x, a) ((((x) + (a)-1) / (a)) * (a))
#define ICK_MAX_MR 12
#define ICK_MAX_NR 16

/* Format of packed activations (one im2col row of K values, padded to kalign). */
typedef enum ick_afmt {
    ICK_AFMT_I16 = 0, /* int16 (a - in_zp); padding 0 */
    ICK_AFMT_S8 = 1,  /* int8: u8 ^ 0x80 (= a - 128), or s8 as is */
    ICK_AFMT_U8 = 2,  /* uint8: u8 as is, or s8 ^ 0x80 (= a + 128) */
} ick_afmt;

/* acc[r * nr + c] = sum_{k < kp} A[r][k] * W[c][k] for r < mr, c < nr (all rows, wrapping int32).
 * A row r starts at (const char *)a + r * lda bytes; w is one packed panel. */
typedef void (*ick_gemm_ukernel_fn)(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc);
/* Requantize n accumulators of one output pixel (definition: ick_ref_requant). */
typedef void (*ick_requant_row_fn)(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                                   const ick_requant *rq, ick_qtype type, const void *residual, void *out);
/* Requantize a rows x n tile (acc rows acc_stride apart, output and residual rows out_stride / res_stride bytes
 * apart); same definition, constants hoisted out of the row loop. */
typedef void (*ick_requant_tile_fn)(int32_t rows, int32_t n, const int32_t *acc, int32_t acc_stride,
                                    const int32_t *offset, const float *mult, const ick_requant *rq, ick_qtype type,
                                    const uint8_t *residual, size_t res_stride, uint8_t *out, size_t out_stride);
/* Micro-kernel and requantization of a full mr x nr tile in one (same definition as ukernel + requant_tile). */
typedef void (*ick_gemm_fused_fn)(int32_t kp, const void *a, size_t lda, const void *w, const int32_t *offset,
                                  const float *mult, const ick_requant *rq, ick_qtype type, const uint8_t *residual,
                                  size_t res_stride, uint8_t *out, size_t out_stride);
/* Depthwise conv over output pixels [m_begin, m_end) with packed int16 weights [tap][C] and int32 offsets [C]. */
typedef void (*ick_dwconv_fn)(const ick_conv_desc *d, const int16_t *w, const int32_t *offset,
                              const ick_requant *rq, const void *input, void *output, int32_t m_begin,
                              int32_t m_end, int32_t *acc_scratch);

/* Convert n activations to int16 (a - zp): the im2col inner loop of the int16 formats. */
typedef void (*ick_convert_i16_fn)(ick_qtype type, int32_t zp, const void *src, int16_t *dst, int32_t n);

/* Convert one pixel's groups * cin_g activations to int16 (a - zp), group g to dst + g * gstride (elements). */
typedef void (*ick_convert_groups_i16_fn)(ick_qtype type, int32_t zp, const void *src, int16_t *dst, int32_t groups,
                                          int32_t cin_g, size_t gstride);

typedef struct ick_variant ick_variant;
struct ick_variant {
    ick_isa isa;
    int32_t mr, nr, kr, kalign;
    ick_afmt afmt;
    int32_t w_bytes; /* 2: weights widened to int16; 1: int8 */
    ick_gemm_ukernel_fn ukernel;
    ick_requant_row_fn requant_row;
    ick_dwconv_fn dwconv;
    ick_convert_i16_fn convert_i16; /* NULL: portable loop */
    ick_gemm_ukernel_fn ukernel_half; /* optional mr x (nr/2) kernel for narrow groups (cout/groups <= nr/2) */
    ick_requant_tile_fn requant_tile; /* optional; NULL: requant_row per row */
    ick_gemm_fused_fn ukernel_fused;  /* optional full mr x nr tile with requant from registers */
    ick_convert_groups_i16_fn convert_groups_i16; /* optional grouped im2col step (narrow groups) */
    ick_gemm_ukernel_fn ukernel_tail_half; /* optional mr x (nr/2) kernel on the first half of a full-width panel
                                            * (a last panel with <= nr/2 valid columns); acc rows nr/2 apart */
    /* optional second format of the same ISA: u8 activations (afmt U8) x int8 weights with pairwise-saturating
     * products (AVX2 vpmaddubsw). The packer uses it for a layer only when ick_conv_bytes_exact holds for its
     * weights, records the choice in the packed header, and the run follows the header. */
    const ick_variant *bytes;
};

/* 1 when no pair of adjacent K products (im2col order [ky][kx][ci], pairs (2j, 2j+1) of each group's K) can leave
 * int16 for any output channel with activations stored as 0..255: the pair's positive weights sum to <= 128 and
 * its negative ones to >= -128 (255 * 128 = 32640 <= 32767). Always true for 7-bit weights (|w| <= 64). */
int ick_conv_bytes_exact(const ick_conv_desc *d, const int8_t *weights);

/* One descriptor per variant compiled for this architecture; NULL ukernel when not compiled in. */
#define ICK_DECLARE_VARIANT_(name, NAME) extern const ick_variant ick_variant__##name;
ICK_ISA_LIST(ICK_DECLARE_VARIANT_)
#undef ICK_DECLARE_VARIANT_

/* Variant used by the public functions (probes on first use). */
const ick_variant *ick_active_variant(void);
const ick_variant *ick_variant_get(ick_isa isa);

/* Pack / run with an explicit variant (tests use these to exercise every variant). */
size_t ick_conv_packed_size_v(const ick_variant *v, const ick_conv_desc *d);
int ick_conv_pack_v(const ick_variant *v, const ick_conv_desc *d, const int8_t *weights, const int32_t *bias,
                    void *packed);
size_t ick_conv_scratch_size_v(const ick_variant *v, const ick_conv_desc *d);
int ick_conv_run_v(const ick_variant *v, const ick_conv_desc *d, const void *packed, const ick_requant *rq,
                   const void *input, void *output, int32_t m_begin, int32_t m_end, void *scratch);

/* ---- exact scalar definitions (the oracle) ---- */
static inline float ick_clampf(float v) {
    if (!(v >= -65536.f)) v = -65536.f; /* also NaN -> -65536 */
    if (v > 65536.f) v = 65536.f;
    return v;
}
/* Round to nearest even for |v| <= 65536 (1.5 * 2^23 trick; exact under the default rounding mode). */
static inline int32_t ick_rne(float v) {
    const float big = 12582912.0f; /* not folded: no -ffast-math anywhere in this target */
    float r = (v + big) - big;
    return (int32_t)r;
}
static inline int32_t ick_clampi(int32_t q, int32_t lo, int32_t hi) { return q < lo ? lo : (q > hi ? hi : q); }
static inline int32_t ick_load_q(ick_qtype t, const void *p, size_t i) {
    return t == ICK_U8 ? (int32_t)((const uint8_t *)p)[i] : (int32_t)((const int8_t *)p)[i];
}
static inline void ick_store_q(ick_qtype t, void *p, size_t i, int32_t v) {
    if (t == ICK_U8) ((uint8_t *)p)[i] = (uint8_t)v;
    else ((int8_t *)p)[i] = (int8_t)v;
}
static inline int32_t ick_qmin(ick_qtype t) { return t == ICK_U8 ? 0 : -128; }
static inline int32_t ick_qmax(ick_qtype t) { return t == ICK_U8 ? 255 : 127; }

/* The requantization of one accumulator (acc already includes bias and zero-point terms). */
static inline int32_t ick_ref_requant(int32_t acc, float mult, const ick_requant *rq, int32_t r) {
    float v = (float)acc * mult;
    int32_t q = ick_clampi(ick_rne(ick_clampf(v)) + rq->out_zp, rq->lo, rq->hi);
    if (rq->residual) {
        float t = (float)(q - rq->out_zp) * rq->mid_ratio;
        float u = (float)(r - rq->residual_zp) * rq->residual_ratio;
        float s = t + u;
        q = ick_clampi(ick_rne(ick_clampf(s)) + rq->sum_zp, rq->sum_lo, rq->sum_hi);
    }
    return q;
}
static inline int32_t ick_ref_avg(int32_t acc, float ratio, int32_t count, int32_t out_zp, int32_t lo, int32_t hi) {
    if (count <= 0) return ick_clampi(out_zp, lo, hi);
    float m = ratio / (float)count;
    float v = (float)acc * m;
    return ick_clampi(ick_rne(ick_clampf(v)) + out_zp, lo, hi);
}

/* Input image of output pixel m (batched NHWC) and the pixel's coordinates in its image. */
static inline const uint8_t *ick_conv_image(const ick_conv_desc *d, const void *input, int32_t m, int32_t *oy,
                                            int32_t *ox) {
    const int32_t ow = ick_conv_out_w(d), per_image = ick_conv_out_h(d) * ow;
    const int32_t img = m / per_image, p = m % per_image;
    *oy = p / ow;
    *ox = p % ow;
    const int32_t is = d->in_stride ? d->in_stride : d->in_c;
    return (const uint8_t *)input + (size_t)img * d->in_h * d->in_w * is;
}
static inline int32_t ick_conv_pixels(const ick_conv_desc *d) {
    return (d->batch ? d->batch : 1) * ick_conv_out_h(d) * ick_conv_out_w(d);
}

/* Naive reference convolution straight from the definition in ckernels.h (OIHW weights). */
int ick_ref_conv(const ick_conv_desc *d, const int8_t *weights, const int32_t *bias, const ick_requant *rq,
                 const void *input, void *output, int32_t m_begin, int32_t m_end);
/* Generic requant row (scalar; used by the scalar variant and for tails). */
void ick_requant_row__scalar(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                             const ick_requant *rq, ick_qtype type, const void *residual, void *out);
void ick_dwconv__scalar(const ick_conv_desc *d, const int16_t *w, const int32_t *offset, const ick_requant *rq,
                        const void *input, void *output, int32_t m_begin, int32_t m_end, int32_t *acc_scratch);
#if defined(ICK_ARM64)
void ick_requant_row__neon(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                           const ick_requant *rq, ick_qtype type, const void *residual, void *out);
void ick_dwconv__neon(const ick_conv_desc *d, const int16_t *w, const int32_t *offset, const ick_requant *rq,
                      const void *input, void *output, int32_t m_begin, int32_t m_end, int32_t *acc_scratch);
#endif
#if defined(ICK_X86)
void ick_requant_row__avx2(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                           const ick_requant *rq, ick_qtype type, const void *residual, void *out);
void ick_dwconv__avx2(const ick_conv_desc *d, const int16_t *w, const int32_t *offset, const ick_requant *rq,
                      const void *input, void *output, int32_t m_begin, int32_t m_end, int32_t *acc_scratch);
#endif
#endif
