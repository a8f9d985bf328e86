/* AVX2 variant. Two formats, chosen per layer by the packer (conv.c) and recorded in the packed header:
 *  - int16 (any weights): activations and weights widened to int16 (a - zp fits: |a - zp| <= 255) and multiplied
 *    with vpmaddwd (pairs of int16 products summed into int32, cannot overflow): 16 MACs per vpmaddwd + vpaddd.
 *  - bytes (.bytes, below): u8 activations x int8 weights with vpmaddubsw + vpmaddwd(ones) + vpaddd, 32 MACs per
 *    3 uops. vpmaddubsw saturates int16 pair sums (255*127*2 > 32767), so this format is used only for layers
 *    whose every weight pair keeps both sums inside int16 (ick_conv_bytes_exact: always for 7-bit weights, as
 *    quantize_static(reduce_range=True) makes them); then it is exact too. */
#include "ick_internal.h"

#if defined(ICK_X86)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2")))
#define AVX2_MR 6
#define AVX2_NR 16

/* A: int16 rows (k pairs broadcast as one dword); W panel: [k/2][16][2] int16. The loop is shared by the plain
 * kernel (stores int32, accumulators start at init0/init1 = 0) and the fused one (accumulators start at the
 * per-channel offsets, then it requantizes from registers). */
#define AVX2_6X16_KLOOP                                                                                         \
    const uint8_t *a0 = (const uint8_t *)a;                                                                    \
    const uint8_t *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;              \
    const __m256i *wp = (const __m256i *)w;                                                                    \
    __m256i c00 = init0, c01 = init1, c10 = init0, c11 = init1, c20 = init0, c21 = init1;                       \
    __m256i c30 = init0, c31 = init1, c40 = init0, c41 = init1, c50 = init0, c51 = init1;                      \
    for (int32_t k = 0; k < kp; k += 2) {                                                                      \
        const __m256i w0 = _mm256_load_si256(wp), w1 = _mm256_load_si256(wp + 1);                              \
        wp += 2;                                                                                               \
        const size_t o = (size_t)k * 2;                                                                        \
        __m256i b;                                                                                             \
        int32_t s;                                                                                             \
        AVX2_ROW(a0, c00, c01) AVX2_ROW(a1, c10, c11) AVX2_ROW(a2, c20, c21)                                   \
        AVX2_ROW(a3, c30, c31) AVX2_ROW(a4, c40, c41) AVX2_ROW(a5, c50, c51)                                   \
    }
#define AVX2_ROW(ap, x0, x1)                                                                                    \
    memcpy(&s, ap + o, 4);                                                                                     \
    b = _mm256_set1_epi32(s);                                                                                  \
    x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(b, w0));                                                       \
    x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(b, w1));

AVX2_TARGET
static void gemm_ukernel_6x16__avx2(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const __m256i init0 = _mm256_setzero_si256(), init1 = init0;
    AVX2_6X16_KLOOP
    __m256i *o = (__m256i *)acc;
    _mm256_storeu_si256(o + 0, c00); _mm256_storeu_si256(o + 1, c01);
    _mm256_storeu_si256(o + 2, c10); _mm256_storeu_si256(o + 3, c11);
    _mm256_storeu_si256(o + 4, c20); _mm256_storeu_si256(o + 5, c21);
    _mm256_storeu_si256(o + 6, c30); _mm256_storeu_si256(o + 7, c31);
    _mm256_storeu_si256(o + 8, c40); _mm256_storeu_si256(o + 9, c41);
    _mm256_storeu_si256(o + 10, c50); _mm256_storeu_si256(o + 11, c51);
}

/* Narrow groups (ResNeXt: 8 output channels per group): W panel [k/2][8][2] int16; PANEL_STEP 1. The first
 * 8 columns of a 16-wide panel (a layer's last panel with 8 or fewer valid columns): PANEL_STEP 2. */
#define AVX2_6X8(NAME, PANEL_STEP)                                                                             \
AVX2_TARGET                                                                                                    \
static void NAME(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {                         \
    const uint8_t *a0 = (const uint8_t *)a;                                                                    \
    const uint8_t *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;              \
    const __m256i *wp = (const __m256i *)w;                                                                    \
    __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;                           \
    for (int32_t k = 0; k < kp; k += 2) {                                                                      \
        const __m256i w0 = _mm256_load_si256(wp);                                                              \
        wp += PANEL_STEP;                                                                                      \
        const size_t o = (size_t)k * 2;                                                                        \
        int32_t s;                                                                                             \
        AVX2_ROW8(a0, c0) AVX2_ROW8(a1, c1) AVX2_ROW8(a2, c2) AVX2_ROW8(a3, c3) AVX2_ROW8(a4, c4) AVX2_ROW8(a5, c5) \
    }                                                                                                          \
    __m256i *o = (__m256i *)acc;                                                                               \
    _mm256_storeu_si256(o + 0, c0); _mm256_storeu_si256(o + 1, c1); _mm256_storeu_si256(o + 2, c2);            \
    _mm256_storeu_si256(o + 3, c3); _mm256_storeu_si256(o + 4, c4); _mm256_storeu_si256(o + 5, c5);            \
}
#define AVX2_ROW8(ap, x)                                                                                       \
        memcpy(&s, ap + o, 4);                                                                                 \
        x = _mm256_add_epi32(x, _mm256_madd_epi16(_mm256_set1_epi32(s), w0));
AVX2_6X8(gemm_ukernel_6x8__avx2, 1)
AVX2_6X8(gemm_ukernel_6x8of16__avx2, 2)
#undef AVX2_ROW8
#undef AVX2_6X8


AVX2_TARGET
static inline __m256i load8_q(ick_qtype type, const void *p) {
    const __m128i x = _mm_loadl_epi64((const __m128i *)p);
    return type == ICK_U8 ? _mm256_cvtepu8_epi32(x) : _mm256_cvtepi8_epi32(x);
}

AVX2_TARGET
static inline __m256i round_clamp(__m256 v, __m256i zp, __m256i lo, __m256i hi) {
    const __m256 fl = _mm256_set1_ps(-65536.f), fh = _mm256_set1_ps(65536.f);
    v = _mm256_min_ps(_mm256_max_ps(v, fl), fh); /* max(v, lo) returns lo for NaN, as ick_clampf */
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp); /* cvtps2dq: round to nearest even (MXCSR default) */
    return _mm256_min_epi32(_mm256_max_epi32(q, lo), hi);
}

typedef struct rq_consts {
    __m256i zp, lo, hi, rzp, szp, slo, shi;
    __m256 mid, rr;
    __m256i zp16, lo16, hi16, perm; /* the no-residual epilogue: int16 zero point and clamp, byte order */
    __m256 fh;
} rq_consts;

AVX2_TARGET
static inline rq_consts rq_setup(const ick_requant *rq) {
    rq_consts k;
    k.zp = _mm256_set1_epi32(rq->out_zp); k.lo = _mm256_set1_epi32(rq->lo); k.hi = _mm256_set1_epi32(rq->hi);
    k.rzp = _mm256_set1_epi32(rq->residual_zp); k.szp = _mm256_set1_epi32(rq->sum_zp);
    k.slo = _mm256_set1_epi32(rq->sum_lo); k.shi = _mm256_set1_epi32(rq->sum_hi);
    k.mid = _mm256_set1_ps(rq->mid_ratio); k.rr = _mm256_set1_ps(rq->residual_ratio);
    k.zp16 = _mm256_set1_epi16((int16_t)rq->out_zp);
    k.lo16 = _mm256_set1_epi16((int16_t)rq->lo); k.hi16 = _mm256_set1_epi16((int16_t)rq->hi);
    k.perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    k.fh = _mm256_set1_ps(65536.f);
    return k;
}

/* 8 outputs: acc + offset -> requant (-> residual add), as int32 inside the type's range. */
AVX2_TARGET
static inline __attribute__((always_inline)) __m256i requant_q8(const rq_consts *k, __m256i a, __m256i off, __m256 mult,
                                                               ick_qtype type, const uint8_t *residual) {
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(a, off)), mult);
    __m256i q = round_clamp(v, k->zp, k->lo, k->hi);
    if (residual) {
        const __m256i r = load8_q(type, residual);
        const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, k->zp)), k->mid);
        const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(r, k->rzp)), k->rr);
        q = round_clamp(_mm256_add_ps(t, u), k->szp, k->slo, k->shi);
    }
    return q;
}

/* The epilogue without a residual, in fewer instructions but equal to ick_ref_requant bit for bit:
 *  - only the upper float clamp: min(65536, v) (65536 first: a NaN v stays NaN, as below);
 *  - cvtps2dq rounds to nearest even; below -2^31 or NaN it gives INT_MIN, which the saturating int16 pack
 *    maps to -32768, so every v < -32768 (and NaN, which the reference clamps to -65536) ends at -32768;
 *  - packssdw saturates to [-32768, 32767]; then the zero point is added in int16 with saturation and the
 *    result is clamped to [lo, hi] (inside [-128, 255]). Each saturation only moves a value that lies
 *    beyond the clamp bounds further beyond them in the same direction, so the clamp gives what the
 *    reference gives: min(max(rne(clamp(v, +-65536)) + zp, lo), hi).
 * acc already holds the offset (bias and zero-point terms). */
AVX2_TARGET
static inline __attribute__((always_inline)) __m256i rq_round(const rq_consts *k, __m256i acc, __m256 mult) {
    return _mm256_cvtps_epi32(_mm256_min_ps(k->fh, _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult)));
}
/* 16 outputs (two vectors of 8 rounded int32) to bytes. */
AVX2_TARGET
static inline __attribute__((always_inline)) __m128i rq_narrow16(const rq_consts *k, __m256i q0, __m256i q1,
                                                                ick_qtype type) {
    __m256i w = _mm256_adds_epi16(_mm256_packs_epi32(q0, q1), k->zp16); /* q0[0..3] q1[0..3] | q0[4..7] q1[4..7] */
    w = _mm256_min_epi16(_mm256_max_epi16(w, k->lo16), k->hi16);
    const __m256i b = type == ICK_U8 ? _mm256_packus_epi16(w, w) : _mm256_packs_epi16(w, w);
    return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, k->perm)); /* dwords 0 4 1 5: q0[0..7] q1[0..7] */
}

/* 8 outputs to bytes (values are inside the type's range: the saturating packs only narrow). */
AVX2_TARGET
static inline __attribute__((always_inline)) void requant8(const rq_consts *k, __m256i a, __m256i off, __m256 mult,
                                                          ick_qtype type, const uint8_t *residual, uint8_t *out) {
    const __m256i q = requant_q8(k, a, off, mult, type, residual);
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i b = type == ICK_U8 ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
    _mm_storel_epi64((__m128i *)out, b);
}

/* 16 outputs to bytes with one pack chain. */
AVX2_TARGET
static inline __attribute__((always_inline)) void requant16(const rq_consts *k, __m256i a0, __m256i a1, __m256i off0,
                                                           __m256i off1, __m256 m0, __m256 m1, ick_qtype type,
                                                           const uint8_t *residual, uint8_t *out) {
    if (!residual) {
        _mm_storeu_si128((__m128i *)out, rq_narrow16(k, rq_round(k, _mm256_add_epi32(a0, off0), m0),
                                                     rq_round(k, _mm256_add_epi32(a1, off1), m1), type));
        return;
    }
    const __m256i q0 = requant_q8(k, a0, off0, m0, type, residual);
    const __m256i q1 = requant_q8(k, a1, off1, m1, type, residual + 8);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8); /* q0[0..7], q1[0..7] as int16 */
    const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    _mm_storeu_si128((__m128i *)out, type == ICK_U8 ? _mm_packus_epi16(lo, hi) : _mm_packs_epi16(lo, hi));
}

/* Full 6x16 tile with the requantization applied from registers (short K: the epilogue would otherwise cost
 * as much as the products). */
AVX2_TARGET
static void gemm_fused_6x16__avx2(int32_t kp, const void *a, size_t lda, const void *w, const int32_t *offset,
                                  const float *mult, const ick_requant *rq, ick_qtype type, const uint8_t *residual,
                                  size_t res_stride, uint8_t *out, size_t out_stride) {
    const __m256i init0 = _mm256_loadu_si256((const __m256i *)offset), init1 = _mm256_loadu_si256((const __m256i *)(offset + 8));
    AVX2_6X16_KLOOP
    const rq_consts q = rq_setup(rq);
    const __m256i off0 = _mm256_setzero_si256(), off1 = off0; /* already in the accumulators */
    const __m256 m0 = _mm256_loadu_ps(mult), m1 = _mm256_loadu_ps(mult + 8);
    /* type and residual branch once here, so each epilogue copy is straight-line */
#define AVX2_EPI(r, x0, x1, T, RES)                                                                              \
    requant16(&q, x0, x1, off0, off1, m0, m1, T, RES ? residual + (r) * res_stride : NULL, out + (r) * out_stride);
#define AVX2_EPI_ALL(T, RES)                                                                                     \
    AVX2_EPI(0, c00, c01, T, RES) AVX2_EPI(1, c10, c11, T, RES) AVX2_EPI(2, c20, c21, T, RES)                    \
    AVX2_EPI(3, c30, c31, T, RES) AVX2_EPI(4, c40, c41, T, RES) AVX2_EPI(5, c50, c51, T, RES)
    if (!residual) {
        if (type == ICK_U8) { AVX2_EPI_ALL(ICK_U8, 0) } else { AVX2_EPI_ALL(ICK_S8, 0) }
    } else {
        if (type == ICK_U8) { AVX2_EPI_ALL(ICK_U8, 1) } else { AVX2_EPI_ALL(ICK_S8, 1) }
    }
#undef AVX2_EPI_ALL
#undef AVX2_EPI
}

/* ---- byte format (the variant's .bytes): layers whose weights keep vpmaddubsw exact -----------------------------
 * A: uint8 rows (u8 activations as they are, s8 as a ^ 0x80 = a + 128; K padded to 4), one dword of 4 K values
 * broadcast per row; W panel [k/4][16][4] int8 = two ymm per step (narrow groups: [k/4][8][4], one ymm).
 * vpmaddubsw multiplies u8 x s8 and adds adjacent pairs into int16 WITH saturation; conv.c packs a layer in this
 * format only when no pair can leave int16 (ick_conv_bytes_exact: true for 7-bit weights), so its sums are exact.
 * vpmaddwd with ones adds pairs of them into int32 (exact), vpaddd accumulates (wrapping like the reference):
 * 32 MACs per 3 uops, against 16 per 2 on the int16 path. 5 rows: 10 accumulators + 2 weights + ones + broadcast. */
#define BYTES_MR 5
#define BYTES_ROWS(X) X(0) X(1) X(2) X(3) X(4)

AVX2_TARGET
static inline __attribute__((always_inline)) __m256i dot4(__m256i acc, __m256i a, __m256i w, __m256i ones) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones));
}

#define BYTES_INIT(r) c0[r] = init0; c1[r] = init1;
#define BYTES_ROW16(r)                                                                                         \
    {                                                                                                          \
        int32_t s;                                                                                             \
        memcpy(&s, ap + (size_t)(r) * lda + k, 4);                                                             \
        const __m256i b = _mm256_set1_epi32(s);                                                                \
        c0[r] = dot4(c0[r], b, w0, ones);                                                                      \
        c1[r] = dot4(c1[r], b, w1, ones);                                                                      \
    }
#define BYTES_KLOOP16                                                                                          \
    const uint8_t *ap = (const uint8_t *)a;                                                                    \
    const __m256i *wp = (const __m256i *)w;                                                                    \
    const __m256i ones = _mm256_set1_epi16(1);                                                                 \
    __m256i c0[BYTES_MR], c1[BYTES_MR];                                                                        \
    BYTES_ROWS(BYTES_INIT)                                                                                     \
    for (int32_t k = 0; k < kp; k += 4) {                                                                      \
        const __m256i w0 = _mm256_load_si256(wp), w1 = _mm256_load_si256(wp + 1);                              \
        wp += 2;                                                                                               \
        BYTES_ROWS(BYTES_ROW16)                                                                                \
    }

AVX2_TARGET
static void gemm_ukernel_5x16_bytes__avx2(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const __m256i init0 = _mm256_setzero_si256(), init1 = init0;
    BYTES_KLOOP16
    __m256i *o = (__m256i *)acc;
#define BYTES_STORE(r) _mm256_storeu_si256(o + 2 * (r), c0[r]); _mm256_storeu_si256(o + 2 * (r) + 1, c1[r]);
    BYTES_ROWS(BYTES_STORE)
#undef BYTES_STORE
}

/* Narrow panels: [k/4][8][4] (PANEL_STEP 1), or the first 8 columns of a 16-wide panel (PANEL_STEP 2). */
#define BYTES_5X8(NAME, PANEL_STEP)                                                                            \
AVX2_TARGET                                                                                                    \
static void NAME(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {                         \
    const uint8_t *ap = (const uint8_t *)a;                                                                    \
    const __m256i *wp = (const __m256i *)w;                                                                    \
    const __m256i ones = _mm256_set1_epi16(1);                                                                 \
    __m256i c0[BYTES_MR];                                                                                      \
    BYTES_ROWS(BYTES_INIT8)                                                                                    \
    for (int32_t k = 0; k < kp; k += 4) {                                                                      \
        const __m256i w0 = _mm256_load_si256(wp);                                                              \
        wp += PANEL_STEP;                                                                                      \
        BYTES_ROWS(BYTES_ROW8)                                                                                 \
    }                                                                                                          \
    __m256i *o = (__m256i *)acc;                                                                               \
    BYTES_ROWS(BYTES_STORE8)                                                                                   \
}
#define BYTES_INIT8(r) c0[r] = _mm256_setzero_si256();
#define BYTES_ROW8(r)                                                                                          \
    {                                                                                                          \
        int32_t s;                                                                                             \
        memcpy(&s, ap + (size_t)(r) * lda + k, 4);                                                             \
        c0[r] = dot4(c0[r], _mm256_set1_epi32(s), w0, ones);                                                   \
    }
#define BYTES_STORE8(r) _mm256_storeu_si256(o + (r), c0[r]);
BYTES_5X8(gemm_ukernel_5x8_bytes__avx2, 1)
BYTES_5X8(gemm_ukernel_5x8of16_bytes__avx2, 2)
#undef BYTES_5X8
#undef BYTES_INIT8
#undef BYTES_ROW8
#undef BYTES_STORE8

/* Full 5x16 byte-format tile with the requantization from registers (the int16 fused kernel's epilogue). */
AVX2_TARGET
static void gemm_fused_5x16_bytes__avx2(int32_t kp, const void *a, size_t lda, const void *w, const int32_t *offset,
                                        const float *mult, const ick_requant *rq, ick_qtype type,
                                        const uint8_t *residual, size_t res_stride, uint8_t *out, size_t out_stride) {
    const __m256i init0 = _mm256_loadu_si256((const __m256i *)offset), init1 = _mm256_loadu_si256((const __m256i *)(offset + 8));
    BYTES_KLOOP16
    const rq_consts q = rq_setup(rq);
    const __m256i off0 = _mm256_setzero_si256(), off1 = off0; /* already in the accumulators */
    const __m256 m0 = _mm256_loadu_ps(mult), m1 = _mm256_loadu_ps(mult + 8);
#define BYTES_EPI(r, T, RES)                                                                                     \
    requant16(&q, c0[r], c1[r], off0, off1, m0, m1, T, RES ? residual + (r) * res_stride : NULL, out + (r) * out_stride);
#define BYTES_EPI_U0(r) BYTES_EPI(r, ICK_U8, 0)
#define BYTES_EPI_S0(r) BYTES_EPI(r, ICK_S8, 0)
#define BYTES_EPI_U1(r) BYTES_EPI(r, ICK_U8, 1)
#define BYTES_EPI_S1(r) BYTES_EPI(r, ICK_S8, 1)
    if (!residual) {
        if (type == ICK_U8) { BYTES_ROWS(BYTES_EPI_U0) } else { BYTES_ROWS(BYTES_EPI_S0) }
    } else {
        if (type == ICK_U8) { BYTES_ROWS(BYTES_EPI_U1) } else { BYTES_ROWS(BYTES_EPI_S1) }
    }
#undef BYTES_EPI_U0
#undef BYTES_EPI_S0
#undef BYTES_EPI_U1
#undef BYTES_EPI_S1
#undef BYTES_EPI
}

AVX2_TARGET
void ick_requant_row__avx2(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                           const ick_requant *rq, ick_qtype type, const void *residual, void *out) {
    const rq_consts k = rq_setup(rq);
    const uint8_t *res = (const uint8_t *)residual;
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        requant8(&k, _mm256_loadu_si256((const __m256i *)(acc + i)), _mm256_loadu_si256((const __m256i *)(offset + i)),
                 _mm256_loadu_ps(mult + i), type, res ? res + i : NULL, (uint8_t *)out + i);
    if (i < n)
        ick_requant_row__scalar(n - i, acc + i, offset + i, mult + i, rq, type, res ? res + i : NULL,
                                (uint8_t *)out + i);
}

AVX2_TARGET
static void requant_tile__avx2(int32_t rows, int32_t n, const int32_t *acc, int32_t acc_stride, const int32_t *offset,
                               const float *mult, const ick_requant *rq, ick_qtype type, const uint8_t *residual,
                               size_t res_stride, uint8_t *out, size_t out_stride) {
    const rq_consts k = rq_setup(rq);
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i off0 = _mm256_loadu_si256((const __m256i *)(offset + i));
        const __m256i off1 = _mm256_loadu_si256((const __m256i *)(offset + i + 8));
        const __m256 mu0 = _mm256_loadu_ps(mult + i), mu1 = _mm256_loadu_ps(mult + i + 8);
        for (int32_t r = 0; r < rows; r++) {
            const int32_t *ar = acc + (size_t)r * acc_stride + i;
            requant16(&k, _mm256_loadu_si256((const __m256i *)ar), _mm256_loadu_si256((const __m256i *)(ar + 8)), off0,
                      off1, mu0, mu1, type, residual ? residual + r * res_stride + i : NULL, out + r * out_stride + i);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const __m256i off = _mm256_loadu_si256((const __m256i *)(offset + i));
        const __m256 mu = _mm256_loadu_ps(mult + i);
        for (int32_t r = 0; r < rows; r++)
            requant8(&k, _mm256_loadu_si256((const __m256i *)(acc + (size_t)r * acc_stride + i)), off, mu, type,
                     residual ? residual + r * res_stride + i : NULL, out + r * out_stride + i);
    }
    if (i < n)
        for (int32_t r = 0; r < rows; r++)
            ick_requant_row__scalar(n - i, acc + (size_t)r * acc_stride + i, offset + i, mult + i, rq, type,
                                    residual ? residual + r * res_stride + i : NULL, out + r * out_stride + i);
}

AVX2_TARGET
static void convert_i16__avx2(ick_qtype type, int32_t zp, const void *src, int16_t *dst, int32_t n) {
    const __m256i z = _mm256_set1_epi16((int16_t)zp);
    const uint8_t *s = (const uint8_t *)src;
    int32_t i = 0;
    if (type == ICK_U8)
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(dst + i),
                                _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(s + i))), z));
    else
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(dst + i),
                                _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(s + i))), z));
    if (i < n && n >= 16) { /* the last partial block: redo the final 16 (same values), no over-read */
        const __m128i x = _mm_loadu_si128((const __m128i *)(s + n - 16));
        const __m256i w = type == ICK_U8 ? _mm256_cvtepu8_epi16(x) : _mm256_cvtepi8_epi16(x);
        _mm256_storeu_si256((__m256i *)(dst + n - 16), _mm256_sub_epi16(w, z));
        return;
    }
    for (; i < n; i++) dst[i] = (int16_t)(ick_load_q(type, s, (size_t)i) - zp);
}

AVX2_TARGET
static void convert_groups_i16__avx2(ick_qtype type, int32_t zp, const void *src, int16_t *dst, int32_t groups,
                                     int32_t cin_g, size_t gstride) {
    const uint8_t *s = (const uint8_t *)src;
    if (cin_g % 8) {
        for (int32_t g = 0; g < groups; g++) {
            int16_t *o = dst + (size_t)g * gstride;
            const uint8_t *sg = s + (size_t)g * cin_g;
            for (int32_t c = 0; c < cin_g; c++) o[c] = (int16_t)(ick_load_q(type, sg, (size_t)c) - zp);
        }
        return;
    }
    const __m128i z = _mm_set1_epi16((int16_t)zp);
    for (int32_t g = 0; g < groups; g++) {
        int16_t *o = dst + (size_t)g * gstride;
        const uint8_t *sg = s + (size_t)g * cin_g;
        for (int32_t c = 0; c < cin_g; c += 8) {
            const __m128i x = _mm_loadl_epi64((const __m128i *)(sg + c));
            const __m128i w = type == ICK_U8 ? _mm_cvtepu8_epi16(x) : _mm_cvtepi8_epi16(x);
            _mm_storeu_si128((__m128i *)(o + c), _mm_sub_epi16(w, z));
        }
    }
}

/* Portable body for kernels with many taps. */
#define ICK_DW_NAME dwconv_generic__avx2
#define ICK_DW_ATTR AVX2_TARGET static
#define ICK_DW_REQUANT ick_requant_row__avx2
#include "dwconv_body.h"
#undef ICK_DW_NAME
#undef ICK_DW_ATTR
#undef ICK_DW_REQUANT

#define DW_MAX_TAPS 64

AVX2_TARGET
static inline __attribute__((always_inline)) __m256i load16_w(ick_qtype type, const uint8_t *p) {
    const __m128i x = _mm_loadu_si128((const __m128i *)p);
    return type == ICK_U8 ? _mm256_cvtepu8_epi16(x) : _mm256_cvtepi8_epi16(x);
}

/* One output pixel's channel blocks of 16 (always inlined so the callers' constants specialise it). */
AVX2_TARGET
static inline __attribute__((always_inline)) void dw_blocks__avx2(const rq_consts *k, const uint8_t *const *tp,
                                                                 const __m256i *wb, int32_t np, int32_t C16,
                                                                 const int32_t *off2, const float *mult, ick_qtype type,
                                                                 const uint8_t *res, uint8_t *out) {
    for (int32_t c0 = 0; c0 < C16; c0 += 16, wb += 2 * np) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        for (int32_t p = 0; p < np; p++) {
            const __m256i x0 = load16_w(type, tp[2 * p] + c0), x1 = load16_w(type, tp[2 * p + 1] + c0);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), _mm256_load_si256(wb + 2 * p)));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), _mm256_load_si256(wb + 2 * p + 1)));
        }
        requant16(k, _mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31),
                  _mm256_loadu_si256((const __m256i *)(off2 + c0)), _mm256_loadu_si256((const __m256i *)(off2 + c0 + 8)),
                  _mm256_loadu_ps(mult + c0), _mm256_loadu_ps(mult + c0 + 8), type, res ? res + c0 : NULL, out + c0);
    }
}

/* One column of a stride-1 3x3 window for 16 channels: rows 0 and 1 interleaved (a vertical tap pair), row 2
 * with zeros (its partner tap has weight 0). */
typedef struct dw_col { __m256i p01l, p01h, p2l, p2h; } dw_col;
AVX2_TARGET
static inline __attribute__((always_inline)) dw_col dw_col_load(ick_qtype type, const uint8_t *x0, const uint8_t *x1,
                                                                const uint8_t *x2) {
    const __m256i a = load16_w(type, x0), b = load16_w(type, x1), c = load16_w(type, x2), z = _mm256_setzero_si256();
    return (dw_col){_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b), _mm256_unpacklo_epi16(c, z),
                    _mm256_unpackhi_epi16(c, z)};
}

/* Stride-1 3x3 depthwise, no residual, over n consecutive output pixels of one row whose windows lie inside the
 * input (r0..r2: the three input rows at the first pixel's leftmost column). Taps are paired vertically, so each
 * input column is loaded and interleaved once and serves the three pixels that read it. wv: per 16-channel
 * block, for kx = 0..2, [rows 0+1 lo, row 2 lo, rows 0+1 hi, row 2 hi] weight pairs (12 vectors). */
AVX2_TARGET
static inline __attribute__((always_inline)) void dw3x3s1_run__avx2(const rq_consts *k, const uint8_t *r0,
                                                                   const uint8_t *r1, const uint8_t *r2, int32_t is,
                                                                   int32_t n, const __m256i *wv, int32_t C16,
                                                                   const int32_t *off2, const float *mult,
                                                                   ick_qtype type, uint8_t *out, int32_t os) {
    for (int32_t c0 = 0; c0 < C16; c0 += 16, wv += 12) {
        const __m256i off0 = _mm256_loadu_si256((const __m256i *)(off2 + c0));
        const __m256i off1 = _mm256_loadu_si256((const __m256i *)(off2 + c0 + 8));
        const __m256 m0 = _mm256_loadu_ps(mult + c0), m1 = _mm256_loadu_ps(mult + c0 + 8);
        const uint8_t *x0 = r0 + c0, *x1 = r1 + c0, *x2 = r2 + c0;
        dw_col a = dw_col_load(type, x0, x1, x2), b = dw_col_load(type, x0 + is, x1 + is, x2 + is);
        x0 += 2 * (size_t)is; x1 += 2 * (size_t)is; x2 += 2 * (size_t)is;
        uint8_t *o = out + c0;
        for (int32_t i = 0; i < n; i++, x0 += is, x1 += is, x2 += is, o += os) {
            const dw_col c = dw_col_load(type, x0, x1, x2);
#define DW_MA(col, j) _mm256_madd_epi16(col, _mm256_load_si256(wv + (j)))
            const __m256i lo = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_add_epi32(DW_MA(a.p01l, 0), DW_MA(a.p2l, 1)),
                                 _mm256_add_epi32(DW_MA(b.p01l, 4), DW_MA(b.p2l, 5))),
                _mm256_add_epi32(DW_MA(c.p01l, 8), DW_MA(c.p2l, 9)));
            const __m256i hi = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_add_epi32(DW_MA(a.p01h, 2), DW_MA(a.p2h, 3)),
                                 _mm256_add_epi32(DW_MA(b.p01h, 6), DW_MA(b.p2h, 7))),
                _mm256_add_epi32(DW_MA(c.p01h, 10), DW_MA(c.p2h, 11)));
#undef DW_MA
            requant16(k, _mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31), off0, off1,
                      m0, m1, type, NULL, o);
            a = b;
            b = c;
        }
    }
}

/* Depthwise, 16 channels at a time with taps in pairs: vpmaddwd sums a0 * w0 + a1 * w1 per int32 lane (exact;
 * |sum| <= 2 * 255 * 128). The zero point leaves the inner loop: taps outside the input read a row of zp
 * values, so sum((a - zp) * w) = sum(a * w) - zp * sum(w) over all taps, and zp * sum(w) goes into the offset.
 * Interleaved weight pairs and offsets are prepared once per call in the scratch (ick_conv_scratch_size). */
AVX2_TARGET
void ick_dwconv__avx2(const ick_conv_desc *d, const int16_t *w, const int32_t *offset, const ick_requant *rq,
                      const void *input, void *output, int32_t m_begin, int32_t m_end, int32_t *acc_scratch) {
    const int32_t taps = d->kernel_h * d->kernel_w;
    if (taps > DW_MAX_TAPS) {
        dwconv_generic__avx2(d, w, offset, rq, input, output, m_begin, m_end, acc_scratch);
        return;
    }
    const int32_t C = d->out_c, C16 = C / 16 * 16, np = (taps + 1) / 2;
    const int32_t is = d->in_stride ? d->in_stride : d->in_c;
    const int32_t os = d->out_stride ? d->out_stride : d->out_c;
    const int32_t rs = rq->residual_stride ? rq->residual_stride : d->out_c;
    const ick_qtype type = d->type;
    const int32_t zp = d->in_zp;
    /* scratch: [offsets C int32][zp row C bytes, 64-rounded][weight pairs (C/16) * np * 2 ymm] */
    int32_t *off2 = acc_scratch;
    uint8_t *zprow = (uint8_t *)acc_scratch + ICK_ROUND_UP((size_t)C * 4, ICK_ALIGN);
    __m256i *wpairs = (__m256i *)(zprow + ICK_ROUND_UP((size_t)C, ICK_ALIGN));
    memset(zprow, (int)(uint8_t)zp, (size_t)C);
    for (int32_t c = 0; c < C; c++) {
        uint32_t sw = 0;
        for (int32_t t = 0; t < taps; t++) sw += (uint32_t)w[(size_t)t * C + c];
        off2[c] = (int32_t)((uint32_t)offset[c] - (uint32_t)zp * sw);
    }
    for (int32_t c0 = 0; c0 < C16; c0 += 16)
        for (int32_t p = 0; p < np; p++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(w + (size_t)(2 * p) * C + c0));
            const __m256i w1 = 2 * p + 1 < taps ? _mm256_loadu_si256((const __m256i *)(w + (size_t)(2 * p + 1) * C + c0))
                                                : _mm256_setzero_si256();
            __m256i *dst = wpairs + ((size_t)(c0 / 16) * np + p) * 2;
            _mm256_store_si256(dst, _mm256_unpacklo_epi16(w0, w1));
            _mm256_store_si256(dst + 1, _mm256_unpackhi_epi16(w0, w1));
        }
    /* stride-1 3x3 without residual, channels a multiple of 16: vertical pairs for the interior of each row */
    const int s1x3 = d->kernel_h == 3 && d->kernel_w == 3 && d->stride_h == 1 && d->stride_w == 1 && !rq->residual &&
                     C16 == C && C > 0;
    __m256i *wv = wpairs + (size_t)(C16 / 16) * np * 2;
    if (s1x3)
        for (int32_t c0 = 0; c0 < C16; c0 += 16)
            for (int32_t kx = 0; kx < 3; kx++) {
                const __m256i t0 = _mm256_loadu_si256((const __m256i *)(w + (size_t)kx * C + c0));
                const __m256i t1 = _mm256_loadu_si256((const __m256i *)(w + (size_t)(3 + kx) * C + c0));
                const __m256i t2 = _mm256_loadu_si256((const __m256i *)(w + (size_t)(6 + kx) * C + c0));
                __m256i *dst = wv + (size_t)(c0 / 16) * 12 + kx * 4;
                _mm256_store_si256(dst, _mm256_unpacklo_epi16(t0, t1));
                _mm256_store_si256(dst + 1, _mm256_unpacklo_epi16(t2, _mm256_setzero_si256()));
                _mm256_store_si256(dst + 2, _mm256_unpackhi_epi16(t0, t1));
                _mm256_store_si256(dst + 3, _mm256_unpackhi_epi16(t2, _mm256_setzero_si256()));
            }
    const rq_consts k = rq_setup(rq);
    const uint8_t *tp[DW_MAX_TAPS + 1];
    const int32_t oh = ick_conv_out_h(d), ow = ick_conv_out_w(d), kh = d->kernel_h, kw = d->kernel_w;
    const size_t image_bytes = (size_t)d->in_h * d->in_w * is;
    tp[taps] = zprow; /* partner of an odd last tap, weight 0 */
    /* one output row at a time: the row's input rows are found once, and pixels whose window lies inside the
     * input (all but the borders) get their tap pointers by adding a step */
    for (int32_t m = m_begin; m < m_end;) {
        const int32_t img = m / (oh * ow), p = m % (oh * ow), oy = p / ow, ox0 = p % ow;
        const int32_t ox1 = ox0 + (m_end - m) < ow ? ox0 + (m_end - m) : ow;
        const uint8_t *image = (const uint8_t *)input + (size_t)img * image_bytes;
        const uint8_t *rows[DW_MAX_TAPS];
        int rows_inside = 1;
        for (int32_t ky = 0; ky < kh; ky++) {
            const int32_t iy = oy * d->stride_h - d->pad_top + ky;
            rows[ky] = iy >= 0 && iy < d->in_h ? image + (size_t)iy * d->in_w * is : NULL;
            rows_inside &= rows[ky] != NULL;
        }
        /* interior pixels of the stride-1 3x3 case: ox - pad_left >= 0 and ox - pad_left + 3 <= in_w */
        int32_t fa = ox1, fb = ox1;
        if (s1x3 && rows_inside) {
            fa = d->pad_left > ox0 ? d->pad_left : ox0;
            fb = d->in_w - 3 + d->pad_left + 1 < ox1 ? d->in_w - 3 + d->pad_left + 1 : ox1;
            if (fb <= fa) fa = fb = ox1;
        }
        for (int32_t ox = ox0; ox < ox1; ox++, m++) {
            if (ox == fa) {
                const size_t col = (size_t)(fa - d->pad_left) * is;
                uint8_t *out = (uint8_t *)output + (size_t)m * os;
                if (type == ICK_U8)
                    dw3x3s1_run__avx2(&k, rows[0] + col, rows[1] + col, rows[2] + col, is, fb - fa, wv, C16, off2,
                                      rq->mult, ICK_U8, out, os);
                else
                    dw3x3s1_run__avx2(&k, rows[0] + col, rows[1] + col, rows[2] + col, is, fb - fa, wv, C16, off2,
                                      rq->mult, ICK_S8, out, os);
                m += fb - fa - 1;
                ox = fb - 1;
                continue;
            }
            const int32_t ix0 = ox * d->stride_w - d->pad_left;
            if (rows_inside && ix0 >= 0 && ix0 + kw <= d->in_w) {
                for (int32_t ky = 0, t = 0; ky < kh; ky++) {
                    const uint8_t *src = rows[ky] + (size_t)ix0 * is;
                    for (int32_t kx = 0; kx < kw; kx++, t++, src += is) tp[t] = src;
                }
            } else {
                for (int32_t ky = 0, t = 0; ky < kh; ky++)
                    for (int32_t kx = 0; kx < kw; kx++, t++) {
                        const int32_t ix = ix0 + kx;
                        tp[t] = rows[ky] && ix >= 0 && ix < d->in_w ? rows[ky] + (size_t)ix * is : zprow;
                    }
            }
            const uint8_t *res = rq->residual ? (const uint8_t *)rq->residual + (size_t)m * rs : NULL;
            uint8_t *out = (uint8_t *)output + (size_t)m * os;
            /* type, residual and the 3x3 tap count become constants in each copy */
#define DW_CALL(NP, T, RES) dw_blocks__avx2(&k, tp, wpairs, NP, C16, off2, rq->mult, T, RES ? res : NULL, out)
#define DW_TYPES(NP)                                                                                            \
            if (!res) { if (type == ICK_U8) DW_CALL(NP, ICK_U8, 0); else DW_CALL(NP, ICK_S8, 0); }              \
            else { if (type == ICK_U8) DW_CALL(NP, ICK_U8, 1); else DW_CALL(NP, ICK_S8, 1); }
            if (np == 5) { DW_TYPES(5) } else { DW_TYPES(np) }
#undef DW_TYPES
#undef DW_CALL
            for (int32_t c = C16; c < C; c++) {
                int32_t a = 0;
                for (int32_t t = 0; t < taps; t++) a += (ick_load_q(type, tp[t], (size_t)c) - zp) * w[(size_t)t * C + c];
                ick_requant_row__scalar(1, &a, offset + c, rq->mult + c, rq, type, res ? res + c : NULL, out + c);
            }
        }
    }
}

/* The byte format: same ISA, u8 activations, chosen per layer by the packer (see above). */
static const ick_variant avx2_bytes = {
    .isa = ICK_ISA_AVX2, .mr = BYTES_MR, .nr = AVX2_NR, .kr = 4, .kalign = 4, .afmt = ICK_AFMT_U8, .w_bytes = 1,
    .ukernel = gemm_ukernel_5x16_bytes__avx2, .requant_row = ick_requant_row__avx2, .dwconv = ick_dwconv__avx2,
    .ukernel_half = gemm_ukernel_5x8_bytes__avx2, .requant_tile = requant_tile__avx2,
    .ukernel_fused = gemm_fused_5x16_bytes__avx2, .ukernel_tail_half = gemm_ukernel_5x8of16_bytes__avx2,
};

const ick_variant ick_variant__avx2 = {
    .isa = ICK_ISA_AVX2, .mr = AVX2_MR, .nr = AVX2_NR, .kr = 2, .kalign = 2, .afmt = ICK_AFMT_I16, .w_bytes = 2,
    .ukernel = gemm_ukernel_6x16__avx2, .requant_row = ick_requant_row__avx2, .dwconv = ick_dwconv__avx2,
    .convert_i16 = convert_i16__avx2, .ukernel_half = gemm_ukernel_6x8__avx2,
    .requant_tile = requant_tile__avx2, .ukernel_fused = gemm_fused_6x16__avx2,
    .convert_groups_i16 = convert_groups_i16__avx2, .ukernel_tail_half = gemm_ukernel_6x8of16__avx2,
    .bytes = &avx2_bytes,
};
#else
const ick_variant ick_variant__avx2 = {.isa = ICK_ISA_AVX2};
#endif
