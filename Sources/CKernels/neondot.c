/* NEON dotprod variant (ARMv8.2-a+dotprod, e.g. Cortex-A76 / Raspberry Pi 5). sdot is s8 x s8: u8 activations
 * are stored as a ^ 0x80 (= a - 128) and the packer folds (128 - zp) * sum(w) into the per-channel offset, so the
 * result is exact. Compiled with a per-function target so one armv8-a binary carries it; used only when
 * getauxval(AT_HWCAP) reports ASIMDDP. */
#include "ick_internal.h"

#if defined(ICK_ARM64)
#include <arm_neon.h>

#if defined(__clang__)
#define DOT_TARGET __attribute__((target("dotprod")))
#else
#define DOT_TARGET __attribute__((target("arch=armv8.2-a+dotprod"))) /* GCC 12 arm_neon.h guards sdot so */
#endif
#define DOT_MR 8
#define DOT_NR 8

/* A: int8 rows (K padded to 16); W panel: [k/4][8][4] int8. */
DOT_TARGET
static void gemm_ukernel_8x8__neondot(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const int8_t *a0 = (const int8_t *)a;
    const int8_t *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda, *a4 = a3 + lda, *a5 = a4 + lda, *a6 = a5 + lda;
    const int8_t *a7 = a6 + lda;
    const int8_t *wp = (const int8_t *)w;
    int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    int32x4_t c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int32_t k = 0; k < kp; k += 16) {
        const int8x16_t v0 = vld1q_s8(a0 + k), v1 = vld1q_s8(a1 + k), v2 = vld1q_s8(a2 + k), v3 = vld1q_s8(a3 + k);
        const int8x16_t v4 = vld1q_s8(a4 + k), v5 = vld1q_s8(a5 + k), v6 = vld1q_s8(a6 + k), v7 = vld1q_s8(a7 + k);
#define DOT_ROW(x0, x1, v, l)                                                                                  \
        x0 = vdotq_laneq_s32(x0, w0, v, l);                                                                    \
        x1 = vdotq_laneq_s32(x1, w1, v, l);
#define DOT_STEP(l)                                                                                            \
        {                                                                                                      \
            const int8x16_t w0 = vld1q_s8(wp), w1 = vld1q_s8(wp + 16);                                         \
            wp += 32;                                                                                          \
            DOT_ROW(c00, c01, v0, l) DOT_ROW(c10, c11, v1, l) DOT_ROW(c20, c21, v2, l) DOT_ROW(c30, c31, v3, l)  \
            DOT_ROW(c40, c41, v4, l) DOT_ROW(c50, c51, v5, l) DOT_ROW(c60, c61, v6, l) DOT_ROW(c70, c71, v7, l)  \
        }
        DOT_STEP(0) DOT_STEP(1) DOT_STEP(2) DOT_STEP(3)
#undef DOT_STEP
#undef DOT_ROW
    }
    vst1q_s32(acc + 0, c00); vst1q_s32(acc + 4, c01); vst1q_s32(acc + 8, c10); vst1q_s32(acc + 12, c11);
    vst1q_s32(acc + 16, c20); vst1q_s32(acc + 20, c21); vst1q_s32(acc + 24, c30); vst1q_s32(acc + 28, c31);
    vst1q_s32(acc + 32, c40); vst1q_s32(acc + 36, c41); vst1q_s32(acc + 40, c50); vst1q_s32(acc + 44, c51);
    vst1q_s32(acc + 48, c60); vst1q_s32(acc + 52, c61); vst1q_s32(acc + 56, c70); vst1q_s32(acc + 60, c71);
}

const ick_variant ick_variant__neondot = {
    .isa = ICK_ISA_NEONDOT, .mr = DOT_MR, .nr = DOT_NR, .kr = 4, .kalign = 16, .afmt = ICK_AFMT_S8, .w_bytes = 1,
    .ukernel = gemm_ukernel_8x8__neondot, .requant_row = ick_requant_row__neon, .dwconv = ick_dwconv__neon,
};
#else
const ick_variant ick_variant__neondot = {.isa = ICK_ISA_NEONDOT};
#endif
