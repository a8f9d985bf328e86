/* AVX2 variant. Exact u8/s8 x s8: activations and weights are widened to int16 (a - zp fits: |a - zp| <= 255)
 * and multiplied with vpmaddwd (pairs of int16 products summed into int32, cannot overflow). vpmaddubsw would
 * give twice the products per instruction but saturates int16 for u8 x s8 pair sums (255*127*2 > 32767), so it
 * is not exact for arbitrary weights; per multiply uop the widened path does the same 16 MACs as
 * vpmaddubsw + vpmaddwd(ones), the cost is twice the operand bytes. */
#include "ick_internal.h"

#if defined(ICK_X86)
#include <immintrin.h>

#define AVX2_TARGET __attribute__((target("avx2")))
#define AVX2_MR 6
#define AVX2_NR 16

/* A: int16 rows (k pairs broadcast as one dword); W panel: [k/2][16][2] int16. */
AVX2_TARGET
static void gemm_ukernel_6x16__avx2(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const uint8_t *a0 = (const uint8_t *)a;
    const uint8_t *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda;
    const __m256i *wp = (const __m256i *)w;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int32_t k = 0; k < kp; k += 2) {
        const __m256i w0 = _mm256_load_si256(wp), w1 = _mm256_load_si256(wp + 1);
        wp += 2;
        const size_t o = (size_t)k * 2;
        __m256i b;
        int32_t s;
#define AVX2_ROW(ap, x0, x1)                                                                                    \
        memcpy(&s, ap + o, 4);                                                                               \
        b = _mm256_set1_epi32(s);                                                                              \
        x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(b, w0));                                                   \
        x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(b, w1));
        AVX2_ROW(a0, c00, c01)
        AVX2_ROW(a1, c10, c11)
        AVX2_ROW(a2, c20, c21)
        AVX2_ROW(a3, c30, c31)
        AVX2_ROW(a4, c40, c41)
        AVX2_ROW(a5, c50, c51)
#undef AVX2_ROW
    }
    __m256i *o = (__m256i *)acc;
    _mm256_storeu_si256(o + 0, c00); _mm256_storeu_si256(o + 1, c01);
    _mm256_storeu_si256(o + 2, c10); _mm256_storeu_si256(o + 3, c11);
    _mm256_storeu_si256(o + 4, c20); _mm256_storeu_si256(o + 5, c21);
    _mm256_storeu_si256(o + 6, c30); _mm256_storeu_si256(o + 7, c31);
    _mm256_storeu_si256(o + 8, c40); _mm256_storeu_si256(o + 9, c41);
    _mm256_storeu_si256(o + 10, c50); _mm256_storeu_si256(o + 11, c51);
}

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

AVX2_TARGET
void ick_requant_row__avx2(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                              const ick_requant *rq, ick_qtype type, const void *residual, void *out) {
    const __m256i zp = _mm256_set1_epi32(rq->out_zp), lo = _mm256_set1_epi32(rq->lo), hi = _mm256_set1_epi32(rq->hi);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + i)),
                                           _mm256_loadu_si256((const __m256i *)(offset + i)));
        const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_loadu_ps(mult + i));
        __m256i q = round_clamp(v, zp, lo, hi);
        if (residual) {
            const __m256i r = load8_q(type, (const uint8_t *)residual + i);
            const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, zp)), _mm256_set1_ps(rq->mid_ratio));
            const __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(r, _mm256_set1_epi32(rq->residual_zp))),
                                           _mm256_set1_ps(rq->residual_ratio));
            q = round_clamp(_mm256_add_ps(t, u), _mm256_set1_epi32(rq->sum_zp), _mm256_set1_epi32(rq->sum_lo),
                            _mm256_set1_epi32(rq->sum_hi));
        }
        /* values are inside the type's range: the saturating packs only narrow */
        const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        const __m128i b = type == ICK_U8 ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
        _mm_storel_epi64((__m128i *)((uint8_t *)out + i), b);
    }
    if (i < n)
        ick_requant_row__scalar(n - i, acc + i, offset + i, mult + i, rq, type,
                                residual ? (const uint8_t *)residual + i : NULL, (uint8_t *)out + i);
}

#define ICK_DW_NAME ick_dwconv__avx2
#define ICK_DW_ATTR AVX2_TARGET
#define ICK_DW_REQUANT ick_requant_row__avx2
#include "dwconv_body.h"
#undef ICK_DW_NAME
#undef ICK_DW_ATTR
#undef ICK_DW_REQUANT

const ick_variant ick_variant__avx2 = {
    .isa = ICK_ISA_AVX2, .mr = AVX2_MR, .nr = AVX2_NR, .kr = 2, .kalign = 2, .afmt = ICK_AFMT_I16, .w_bytes = 2,
    .ukernel = gemm_ukernel_6x16__avx2, .requant_row = ick_requant_row__avx2, .dwconv = ick_dwconv__avx2,
};
#else
const ick_variant ick_variant__avx2 = {.isa = ICK_ISA_AVX2};
#endif
