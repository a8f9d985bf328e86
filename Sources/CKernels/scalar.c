/* Scalar variant: portable C, the fallback on every CPU. */
#include "ick_internal.h"

#define SC_MR 4
#define SC_NR 4

static void gemm_ukernel_4x4__scalar(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const int16_t *wp = (const int16_t *)w;
    uint32_t c[SC_MR][SC_NR] = {{0}};
    for (int32_t k = 0; k < kp; k++) {
        for (int r = 0; r < SC_MR; r++) {
            const int32_t av = ((const int16_t *)((const uint8_t *)a + r * lda))[k];
            for (int j = 0; j < SC_NR; j++) c[r][j] += (uint32_t)(av * wp[j]);
        }
        wp += SC_NR;
    }
    for (int r = 0; r < SC_MR; r++)
        for (int j = 0; j < SC_NR; j++) acc[r * SC_NR + j] = (int32_t)c[r][j];
}

void ick_requant_row__scalar(int32_t n, const int32_t *acc, const int32_t *offset, const float *mult,
                             const ick_requant *rq, ick_qtype type, const void *residual, void *out) {
    for (int32_t i = 0; i < n; i++) {
        const int32_t r = residual ? ick_load_q(type, residual, (size_t)i) : 0;
        const int32_t a = (int32_t)((uint32_t)acc[i] + (uint32_t)offset[i]);
        ick_store_q(type, out, (size_t)i, ick_ref_requant(a, mult[i], rq, r));
    }
}

#define ICK_DW_NAME ick_dwconv__scalar
#define ICK_DW_ATTR
#define ICK_DW_REQUANT ick_requant_row__scalar
#include "dwconv_body.h"
#undef ICK_DW_NAME
#undef ICK_DW_ATTR
#undef ICK_DW_REQUANT

const ick_variant ick_variant__scalar = {
    .isa = ICK_ISA_SCALAR, .mr = SC_MR, .nr = SC_NR, .kr = 1, .kalign = 1, .afmt = ICK_AFMT_I16, .w_bytes = 2,
    .ukernel = gemm_ukernel_4x4__scalar, .requant_row = ick_requant_row__scalar, .dwconv = ick_dwconv__scalar,
};
