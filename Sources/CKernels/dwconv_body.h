/* Depthwise convolution body, included once per variant with
 *   ICK_DW_NAME (function name), ICK_DW_ATTR (target attribute or empty), ICK_DW_REQUANT (requant row).
 * Plain loops over contiguous channels that the compiler vectorizes for the variant's ISA; integer math, so
 * every instantiation is exact. acc_scratch holds out_c int32. */
ICK_DW_ATTR
void ICK_DW_NAME(const ick_conv_desc *d, const int16_t *w, const int32_t *offset, const ick_requant *rq,
                 const void *input, void *output, int32_t m_begin, int32_t m_end, int32_t *acc_scratch) {
    const int32_t C = d->out_c;
    const int32_t is = d->in_stride ? d->in_stride : d->in_c;
    const int32_t os = d->out_stride ? d->out_stride : d->out_c;
    const int32_t rs = rq->residual_stride ? rq->residual_stride : d->out_c;
    const int16_t zp = (int16_t)d->in_zp;
    int32_t *restrict acc = acc_scratch;
    for (int32_t m = m_begin; m < m_end; m++) {
        int32_t oy, ox;
        const uint8_t *image = ick_conv_image(d, input, m, &oy, &ox);
        for (int32_t c = 0; c < C; c++) acc[c] = 0;
        for (int32_t ky = 0; ky < d->kernel_h; ky++) {
            const int32_t iy = oy * d->stride_h - d->pad_top + ky;
            if (iy < 0 || iy >= d->in_h) continue;
            for (int32_t kx = 0; kx < d->kernel_w; kx++) {
                const int32_t ix = ox * d->stride_w - d->pad_left + kx;
                if (ix < 0 || ix >= d->in_w) continue;
                const int16_t *restrict wt = w + (size_t)(ky * d->kernel_w + kx) * C;
                const size_t pix = ((size_t)iy * d->in_w + ix) * is;
                if (d->type == ICK_U8) {
                    const uint8_t *restrict s = image + pix;
                    for (int32_t c = 0; c < C; c++) acc[c] += (int32_t)(int16_t)(s[c] - zp) * wt[c];
                } else {
                    const int8_t *restrict s = (const int8_t *)(image + pix);
                    for (int32_t c = 0; c < C; c++) acc[c] += (int32_t)(int16_t)(s[c] - zp) * wt[c];
                }
            }
        }
        const void *res = rq->residual ? (const uint8_t *)rq->residual + (size_t)m * rs : NULL;
        ICK_DW_REQUANT(C, acc, offset, rq->mult, rq, d->type, res, (uint8_t *)output + (size_t)m * os);
    }
}
