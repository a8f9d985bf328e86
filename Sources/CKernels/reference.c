/* Exact definitions: naive loops straight from ckernels.h. The oracle every variant is tested against. */
#include "ick_internal.h"

int ick_ref_conv(const ick_conv_desc *d, const int8_t *weights, const int32_t *bias, const ick_requant *rq,
                 const void *input, void *output, int32_t m_begin, int32_t m_end) {
    int rc = ick_conv_check(d);
    if (rc != ICK_OK) return rc;
    const int32_t oh = ick_conv_out_h(d), ow = ick_conv_out_w(d);
    const int32_t cin_g = d->in_c / d->groups, cout_g = d->out_c / d->groups;
    const int32_t is = d->in_stride ? d->in_stride : d->in_c;
    const int32_t os = d->out_stride ? d->out_stride : d->out_c;
    const int32_t rs = rq->residual_stride ? rq->residual_stride : d->out_c;
    if (m_begin < 0) m_begin = 0;
    (void)oh; (void)ow;
    if (m_end > ick_conv_pixels(d)) m_end = ick_conv_pixels(d);
    for (int32_t m = m_begin; m < m_end; m++) {
        int32_t oy, ox;
        const uint8_t *image = ick_conv_image(d, input, m, &oy, &ox);
        for (int32_t n = 0; n < d->out_c; n++) {
            const int32_t g = n / cout_g;
            uint32_t acc = bias ? (uint32_t)bias[n] : 0u; /* two's complement wrap, as in SIMD */
            for (int32_t ky = 0; ky < d->kernel_h; ky++) {
                const int32_t iy = oy * d->stride_h - d->pad_top + ky;
                for (int32_t kx = 0; kx < d->kernel_w; kx++) {
                    const int32_t ix = ox * d->stride_w - d->pad_left + kx;
                    const int inside = iy >= 0 && iy < d->in_h && ix >= 0 && ix < d->in_w;
                    for (int32_t ci = 0; ci < cin_g; ci++) {
                        const int32_t a = inside ? ick_load_q(d->type, image,
                                                              ((size_t)iy * d->in_w + ix) * is + g * cin_g + ci)
                                                 : d->in_zp;
                        const int32_t w = weights[(((size_t)n * cin_g + ci) * d->kernel_h + ky) * d->kernel_w + kx];
                        acc += (uint32_t)((a - d->in_zp) * w);
                    }
                }
            }
            const int32_t r = rq->residual ? ick_load_q(d->type, rq->residual, (size_t)m * rs + n) : 0;
            ick_store_q(d->type, output, (size_t)m * os + n, ick_ref_requant((int32_t)acc, rq->mult[n], rq, r));
        }
    }
    return ICK_OK;
}
