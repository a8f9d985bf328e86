/* Pooling on NHWC u8/s8. Portable C over contiguous channels (the compiler vectorizes the channel loops);
 * the arithmetic is the exact definition in ckernels.h, so there is one implementation for all variants. */
#include "ick_internal.h"

int ick_pool_check(const ick_pool_desc *d) {
    if (!d) return ICK_ERR_ARG;
    const int32_t lim = 1 << 20;
    if (d->in_h < 1 || d->in_h > lim || d->in_w < 1 || d->in_w > lim || d->channels < 1 || d->channels > lim ||
        d->out_h < 1 || d->out_h > lim || d->out_w < 1 || d->out_w > lim || d->kernel_h < 1 || d->kernel_h > 1024 ||
        d->kernel_w < 1 || d->kernel_w > 1024 || d->stride_h < 1 || d->stride_h > 1024 || d->stride_w < 1 ||
        d->stride_w > 1024 || d->pad_top < 0 || d->pad_top > 1024 || d->pad_left < 0 || d->pad_left > 1024 ||
        d->pad_bottom < 0 || d->pad_bottom > 1024 || d->pad_right < 0 || d->pad_right > 1024)
        return ICK_ERR_ARG;
    if (d->type != ICK_U8 && d->type != ICK_S8) return ICK_ERR_ARG;
    if (d->in_stride < 0 || (d->in_stride && d->in_stride < d->channels)) return ICK_ERR_ARG;
    if (d->out_stride < 0 || (d->out_stride && d->out_stride < d->channels)) return ICK_ERR_ARG;
    if ((int64_t)(d->out_h - 1) * d->stride_h - d->pad_top >= d->in_h ||
        (int64_t)(d->out_w - 1) * d->stride_w - d->pad_left >= d->in_w)
        return ICK_ERR_ARG; /* a window starting past the input: the caller's output size is wrong */
    return ICK_OK;
}

typedef struct window { int32_t y0, y1, x0, x1, count_padded; } window;

static window window_of(const ick_pool_desc *d, int32_t m) {
    const int32_t oy = m / d->out_w, ox = m % d->out_w;
    window w;
    const int32_t ys = oy * d->stride_h - d->pad_top, xs = ox * d->stride_w - d->pad_left;
    int32_t ye = ys + d->kernel_h, xe = xs + d->kernel_w;
    const int32_t yep = ye < d->in_h + d->pad_bottom ? ye : d->in_h + d->pad_bottom;
    const int32_t xep = xe < d->in_w + d->pad_right ? xe : d->in_w + d->pad_right;
    w.count_padded = (yep - ys) * (xep - xs);
    w.y0 = ys < 0 ? 0 : ys; w.x0 = xs < 0 ? 0 : xs;
    w.y1 = ye < d->in_h ? ye : d->in_h; w.x1 = xe < d->in_w ? xe : d->in_w;
    return w;
}

int ick_maxpool(const ick_pool_desc *d, const void *input, void *output, int32_t m_begin, int32_t m_end) {
    int rc = ick_pool_check(d);
    if (rc != ICK_OK) return rc;
    const int32_t C = d->channels, is = d->in_stride ? d->in_stride : C, os = d->out_stride ? d->out_stride : C;
    if (m_begin < 0) m_begin = 0;
    if (m_end > d->out_h * d->out_w) m_end = d->out_h * d->out_w;
    for (int32_t m = m_begin; m < m_end; m++) {
        const window w = window_of(d, m);
        if (d->type == ICK_U8) {
            uint8_t *restrict o = (uint8_t *)output + (size_t)m * os;
            for (int32_t c = 0; c < C; c++) o[c] = 0;
            for (int32_t y = w.y0; y < w.y1; y++)
                for (int32_t x = w.x0; x < w.x1; x++) {
                    const uint8_t *restrict s = (const uint8_t *)input + ((size_t)y * d->in_w + x) * is;
                    for (int32_t c = 0; c < C; c++) o[c] = s[c] > o[c] ? s[c] : o[c];
                }
        } else {
            int8_t *restrict o = (int8_t *)output + (size_t)m * os;
            for (int32_t c = 0; c < C; c++) o[c] = -128;
            for (int32_t y = w.y0; y < w.y1; y++)
                for (int32_t x = w.x0; x < w.x1; x++) {
                    const int8_t *restrict s = (const int8_t *)input + ((size_t)y * d->in_w + x) * is;
                    for (int32_t c = 0; c < C; c++) o[c] = s[c] > o[c] ? s[c] : o[c];
                }
        }
    }
    return ICK_OK;
}

/* Sum (a - zp) over a window for C channels into acc. */
static void window_sum(const ick_pool_desc *d, const void *input, int32_t is, int32_t y0, int32_t y1, int32_t x0,
                       int32_t x1, int32_t zp, int32_t *restrict acc) {
    const int32_t C = d->channels;
    for (int32_t c = 0; c < C; c++) acc[c] = 0;
    for (int32_t y = y0; y < y1; y++)
        for (int32_t x = x0; x < x1; x++) {
            const size_t p = ((size_t)y * d->in_w + x) * is;
            if (d->type == ICK_U8) {
                const uint8_t *restrict s = (const uint8_t *)input + p;
                for (int32_t c = 0; c < C; c++) acc[c] += s[c];
            } else {
                const int8_t *restrict s = (const int8_t *)input + p;
                for (int32_t c = 0; c < C; c++) acc[c] += s[c];
            }
        }
    const int32_t n = (y1 - y0) * (x1 - x0);
    for (int32_t c = 0; c < C; c++) acc[c] -= n * zp;
}

int ick_avgpool(const ick_pool_desc *d, const void *input, void *output, int32_t in_zp, float ratio, int32_t out_zp,
                int32_t lo, int32_t hi, int32_t m_begin, int32_t m_end) {
    int rc = ick_pool_check(d);
    if (rc != ICK_OK) return rc;
    if (d->kernel_h * d->kernel_w > 65536) return ICK_ERR_ARG;
    const int32_t C = d->channels, is = d->in_stride ? d->in_stride : C, os = d->out_stride ? d->out_stride : C;
    if (m_begin < 0) m_begin = 0;
    if (m_end > d->out_h * d->out_w) m_end = d->out_h * d->out_w;
    enum { CHUNK = 256 };
    int32_t acc[CHUNK];
    for (int32_t m = m_begin; m < m_end; m++) {
        const window w = window_of(d, m);
        const int32_t count = d->count_include_pad ? w.count_padded : (w.y1 - w.y0) * (w.x1 - w.x0);
        for (int32_t c0 = 0; c0 < C; c0 += CHUNK) {
            ick_pool_desc sub = *d;
            sub.channels = C - c0 < CHUNK ? C - c0 : CHUNK;
            window_sum(&sub, (const uint8_t *)input + c0, is, w.y0, w.y1, w.x0, w.x1, in_zp, acc);
            for (int32_t c = 0; c < sub.channels; c++)
                ick_store_q(d->type, output, (size_t)m * os + c0 + c, ick_ref_avg(acc[c], ratio, count, out_zp, lo, hi));
        }
    }
    return ICK_OK;
}

int ick_global_avgpool(int32_t hw, int32_t channels, ick_qtype type, const void *input, int32_t in_stride,
                       void *output, int32_t in_zp, float ratio, int32_t out_zp, int32_t lo, int32_t hi) {
    if (hw < 1 || hw > (1 << 16) || channels < 1 || channels > (1 << 20) || (type != ICK_U8 && type != ICK_S8) ||
        in_stride < 0 || (in_stride && in_stride < channels))
        return ICK_ERR_ARG;
    ick_pool_desc d = {.in_h = 1, .in_w = hw, .channels = channels, .out_h = 1, .out_w = 1, .kernel_h = 1,
                       .kernel_w = hw, .stride_h = 1, .stride_w = 1, .type = type, .in_stride = in_stride};
    return ick_avgpool(&d, input, output, in_zp, ratio, out_zp, lo, hi, 0, 1);
}
