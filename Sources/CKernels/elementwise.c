/* Quantize / dequantize / standalone QDQ Add. Portable C written to vectorize; exact definitions. */
#include "ick_internal.h"

void ick_quantize_f32(size_t n, const float *x, float scale, int32_t zp, ick_qtype type, void *y) {
    const int32_t lo = ick_qmin(type), hi = ick_qmax(type);
    /* one loop per type (no per-element branch), so the compiler vectorizes it */
    if (type == ICK_U8) {
        uint8_t *o = (uint8_t *)y;
        for (size_t i = 0; i < n; i++) /* division, as ONNX QuantizeLinear and ONNX Runtime */
            o[i] = (uint8_t)ick_clampi(ick_rne(ick_clampf(x[i] / scale)) + zp, lo, hi);
    } else {
        int8_t *o = (int8_t *)y;
        for (size_t i = 0; i < n; i++) o[i] = (int8_t)ick_clampi(ick_rne(ick_clampf(x[i] / scale)) + zp, lo, hi);
    }
}

void ick_dequantize_f32(size_t n, const void *q, ick_qtype type, float scale, int32_t zp, float *y) {
    if (type == ICK_U8) {
        const uint8_t *s = (const uint8_t *)q;
        for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)s[i] - zp) * scale;
    } else {
        const int8_t *s = (const int8_t *)q;
        for (size_t i = 0; i < n; i++) y[i] = (float)((int32_t)s[i] - zp) * scale;
    }
}

void ick_qadd(size_t n, ick_qtype type, const void *a, int32_t a_zp, float a_ratio, const void *b, int32_t b_zp,
              float b_ratio, void *y, int32_t y_zp, int32_t lo, int32_t hi) {
    for (size_t i = 0; i < n; i++) {
        const float t = (float)(ick_load_q(type, a, i) - a_zp) * a_ratio;
        const float u = (float)(ick_load_q(type, b, i) - b_zp) * b_ratio;
        const float s = t + u;
        ick_store_q(type, y, i, ick_clampi(ick_rne(ick_clampf(s)) + y_zp, lo, hi));
    }
}

/* Layout change of one image between NCHW ([c][hw]) and NHWC ([hw][c]) for 1- or 4-byte elements. The 3-channel
 * byte case (an image input) has its own loop: the generic one would move one byte per iteration with a stride. */
#define ICK_TRANSPOSE_(T)                                                                                       \
    static void transpose_##T(size_t rows, size_t cols, const T *src, T *dst) {                                 \
        for (size_t r0 = 0; r0 < rows; r0 += 16)                                                                \
            for (size_t c0 = 0; c0 < cols; c0 += 16)                                                            \
                for (size_t r = r0; r < rows && r < r0 + 16; r++)                                               \
                    for (size_t c = c0; c < cols && c < c0 + 16; c++) dst[c * rows + r] = src[r * cols + c];    \
    }
ICK_TRANSPOSE_(uint8_t)
ICK_TRANSPOSE_(uint32_t)

int ick_layout_image(int to_nhwc, size_t channels, size_t pixels, size_t elem_size, const void *src, void *dst) {
    if (elem_size != 1 && elem_size != 4) return ICK_ERR_ARG;
    if (to_nhwc && elem_size == 1 && channels == 3) {
        const uint8_t *s0 = (const uint8_t *)src, *s1 = s0 + pixels, *s2 = s1 + pixels;
        uint8_t *o = (uint8_t *)dst;
        for (size_t p = 0; p < pixels; p++, o += 3) { o[0] = s0[p]; o[1] = s1[p]; o[2] = s2[p]; }
        return ICK_OK;
    }
    /* NCHW -> NHWC transposes a [channels][pixels] matrix; NHWC -> NCHW a [pixels][channels] one */
    const size_t rows = to_nhwc ? channels : pixels, cols = to_nhwc ? pixels : channels;
    if (elem_size == 1) transpose_uint8_t(rows, cols, (const uint8_t *)src, (uint8_t *)dst);
    else transpose_uint32_t(rows, cols, (const uint32_t *)src, (uint32_t *)dst);
    return ICK_OK;
}
