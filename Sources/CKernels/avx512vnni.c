/* AVX-512 VNNI variant. vpdpbusd multiplies u8 (activations) by s8 (weights) and adds groups of four products
 * into int32 without saturation (vpdpbusds would saturate; four products cannot overflow, and the int32 sums
 * wrap exactly like the scalar reference). s8 activations are stored as a ^ 0x80 (= a + 128); the packer folds
 * (shift - zp) * sum(w) into the per-channel offset. The epilogue and depthwise reuse the AVX2 code. */
#include "ick_internal.h"

#if defined(ICK_X86)
#include <immintrin.h>

#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define VNNI_MR 8
#define VNNI_NR 16

/* A: uint8 rows (K padded to 4, one dword broadcast per row); W panel: [k/4][16][4] int8 = one zmm per step. */
VNNI_TARGET
static void gemm_ukernel_8x16__avx512vnni(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const uint8_t *a0 = (const uint8_t *)a;
    const uint8_t *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda, *a6 = a5 + lda;
    const uint8_t *a7 = a6 + lda;
    const uint8_t *wp = (const uint8_t *)w;
    __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
    for (int32_t k = 0; k < kp; k += 4) {
        const __m512i wv = _mm512_load_si512((const void *)wp);
        wp += 64;
        int32_t s;
#define VNNI_ROW(ap, x)                                                                                        \
        memcpy(&s, ap + k, 4);                                                                                 \
        x = _mm512_dpbusd_epi32(x, _mm512_set1_epi32(s), wv);
        VNNI_ROW(a0, c0) VNNI_ROW(a1, c1) VNNI_ROW(a2, c2) VNNI_ROW(a3, c3)
        VNNI_ROW(a4, c4) VNNI_ROW(a5, c5) VNNI_ROW(a6, c6) VNNI_ROW(a7, c7)
#undef VNNI_ROW
    }
    _mm512_storeu_si512(acc + 0, c0); _mm512_storeu_si512(acc + 16, c1);
    _mm512_storeu_si512(acc + 32, c2); _mm512_storeu_si512(acc + 48, c3);
    _mm512_storeu_si512(acc + 64, c4); _mm512_storeu_si512(acc + 80, c5);
    _mm512_storeu_si512(acc + 96, c6); _mm512_storeu_si512(acc + 112, c7);
}

const ick_variant ick_variant__avx512vnni = {
    .isa = ICK_ISA_AVX512VNNI, .mr = VNNI_MR, .nr = VNNI_NR, .kr = 4, .kalign = 4, .afmt = ICK_AFMT_U8,
    .w_bytes = 1, .ukernel = gemm_ukernel_8x16__avx512vnni, .requant_row = ick_requant_row__avx2,
    .dwconv = ick_dwconv__avx2,
};
#else
const ick_variant ick_variant__avx512vnni = {.isa = ICK_ISA_AVX512VNNI};
#endif
