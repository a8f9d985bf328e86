/* NEON variant (ARMv8.0, e.g. Cortex-A72 / Raspberry Pi 4). Exact: activations (a - zp) and weights widened to
 * int16, multiplied with smlal/smlal2 by element into int32 (|product| <= 255 * 128 fits easily). */
#include "ick_internal.h"

#if defined(ICK_ARM64)
#include <arm_neon.h>

#define NEON_MR 8
#define NEON_NR 8

/* A: int16 rows (K padded to 8); W panel: [k][8] int16. 16 accumulators, 8 activation vectors. */
static void gemm_ukernel_8x8__neon(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const int16_t *a0 = (const int16_t *)a;
    const int16_t *a1 = (const int16_t *)((const uint8_t *)a0 + lda), *a2 = (const int16_t *)((const uint8_t *)a1 + lda);
    const int16_t *a3 = (const int16_t *)((const uint8_t *)a2 + lda), *a4 = (const int16_t *)((const uint8_t *)a3 + lda);
    const int16_t *a5 = (const int16_t *)((const uint8_t *)a4 + lda), *a6 = (const int16_t *)((const uint8_t *)a5 + lda);
    const int16_t *a7 = (const int16_t *)((const uint8_t *)a6 + lda);
    const int16_t *wp = (const int16_t *)w;
    int32x4_t c00 = vdupq_n_s32(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    int32x4_t c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (int32_t k = 0; k < kp; k += 8) {
        const int16x8_t v0 = vld1q_s16(a0 + k), v1 = vld1q_s16(a1 + k), v2 = vld1q_s16(a2 + k), v3 = vld1q_s16(a3 + k);
        const int16x8_t v4 = vld1q_s16(a4 + k), v5 = vld1q_s16(a5 + k), v6 = vld1q_s16(a6 + k), v7 = vld1q_s16(a7 + k);
#define NEON_ROW(x0, x1, v, l)                                                                                 \
        x0 = vmlal_laneq_s16(x0, vget_low_s16(wv), v, l);                                                      \
        x1 = vmlal_high_laneq_s16(x1, wv, v, l);
#define NEON_STEP(l)                                                                                           \
        {                                                                                                      \
            const int16x8_t wv = vld1q_s16(wp);                                                                \
            wp += 8;                                                                                           \
            NEON_ROW(c00, c01, v0, l) NEON_ROW(c10, c11, v1, l) NEON_ROW(c20, c21, v2, l)                       \
            NEON_ROW(c30, c31, v3, l) NEON_ROW(c40, c41, v4, l) NEON_ROW(c50, c51, v5, l)                       \
            NEON_ROW(c60, c61, v6, l) NEON_ROW(c70, c71, v7, l)                                                \
        }
        NEON_STEP(0) NEON_STEP(1) NEON_STEP(2) NEON_STEP(3) NEON_STEP(4) NEON_STEP(5) NEON_STEP(6) NEON_STEP(7)
#undef NEON_STEP
#undef NEON_ROW
    }
    vst1q_s32(acc + 0, c00); vst1q_s32(acc + 4, c01); vst1q_s32(acc + 8, c10); vst1q_s32(acc + 12, c11);
    vst1q_s32(acc + 16, c20); vst1q_s32(acc + 20, c21); vst1q_s32(acc + 24, c30); vst1q_s32(acc + 28, c31);
    vst1q_s32(acc + 32, c40); vst1q_s32(acc + 36, c41); vst1q_s32(acc + 40, c50); vst1q_s32(acc + 44, c51);
    vst1q_s32(acc + 48, c60); vst1q_s32(acc + 52, c61); vst1q_s32(acc + 56, c70); vst1q_s32(acc + 60, c71);
}

static inline int32x4_t round_clamp(float32x4_t v, int32x4_t zp, int32x4_t lo, int32x4_t hi) {
    v = vminq_f32(vmaxnmq_f32(v, vdupq_n_f32(-65536.f)), vdupq_n_f32(65536.f)); /* NaN -> lo, as ick_clampf */
    const int32x4_t q = vaddq_s32(vcvtnq_s32_f32(v), zp);                        /* fcvtns: nearest even */
    return vminq_s32(vmaxq_s32(q, lo), hi);
}

static inline int32x4_t requant4(const int32_t *acc, const int32_t *offset, const float *mult, const ick_requant *rq,
                                 int32x4_t r, int has_residual) {
    const int32x4_t zp = vdupq_n_s32(rq->out_zp);
    const int32x4_t a = vaddq_s32(vld1q_s32(acc), vld1q_s32(offset));
    const float32x4_t v = vmulq_f32(vcvtq_f32_s32(a), vld1q_f32(mult));
    int32x4_t q = round_clamp(v, zp, vdupq_n_s32(rq->lo), vdupq_n_s32(rq->hi));
    if (has_residual) {
        const float32x4_t t = vmulq_f32(vcvtq_f32_s32(vsubq_s32(q, zp)), vdupq_n_f32(rq->mid_ratio));
        const float32x4_t u = vmulq_f32(vcvtq_f32_s32(vsubq_s32(r, vdupq_n_s32(rq->residual_zp))),
                                        vdupq_n_f32(rq->residual_ratio));
        q = round_clamp(vaddq_f32(t, u), vdupq_n_s32(rq->sum_zp), vdupq_n_s32(rq->sum_lo), vdupq_n_s32(rq->sum_hi));
    }
    return q;
}

void ick_requant_row__neon(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                           const ick_requant *rq, ick_qtype type, const void *residual, void *out) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int16x8_t r16 = vdupq_n_s16(0);
        if (residual) {
            const uint8x8_t rb = vld1_u8((const uint8_t *)residual + i);
            r16 = type == ICK_U8 ? vreinterpretq_s16_u16(vmovl_u8(rb)) : vmovl_s8(vreinterpret_s8_u8(rb));
        }
        const int32x4_t q0 = requant4(acc + i, offset + i, mult + i, rq, vmovl_s16(vget_low_s16(r16)), residual != NULL);
        const int32x4_t q1 = requant4(acc + i + 4, offset + i + 4, mult + i + 4, rq, vmovl_high_s16(r16), residual != NULL);
        /* values are inside the type's range: plain narrowing keeps the bit pattern of u8 and s8 */
        const int16x8_t h = vcombine_s16(vmovn_s32(q0), vmovn_s32(q1));
        vst1_s8((int8_t *)out + i, vmovn_s16(h));
    }
    if (i < n)
        ick_requant_row__scalar(n - i, acc + i, offset + i, mult + i, rq, type,
                                residual ? (const uint8_t *)residual + i : NULL, (uint8_t *)out + i);
}

#define ICK_DW_NAME ick_dwconv__neon
#define ICK_DW_ATTR
#define ICK_DW_REQUANT ick_requant_row__neon
#include "dwconv_body.h"
#undef ICK_DW_NAME
#undef ICK_DW_ATTR
#undef ICK_DW_REQUANT

const ick_variant ick_variant__neon = {
    .isa = ICK_ISA_NEON, .mr = NEON_MR, .nr = NEON_NR, .kr = 1, .kalign = 8, .afmt = ICK_AFMT_I16, .w_bytes = 2,
    .ukernel = gemm_ukernel_8x8__neon, .requant_row = ick_requant_row__neon, .dwconv = ick_dwconv__neon,
};
#else
const ick_variant ick_variant__neon = {.isa = ICK_ISA_NEON};
#endif
