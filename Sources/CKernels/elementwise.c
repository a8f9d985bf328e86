/* Quantize / dequantize / standalone QDQ Add. Portable C written to vectorize; exact definitions. */
#include "ick_internal.h"

void ick_quantize_f32(size_t n, const float *x, float scale, int32_t zp, ick_qtype type, void *y) {
    const int32_t lo = ick_qmin(type), hi = ick_qmax(type);
    for (size_t i = 0; i < n; i++) {
        const float v = x[i] / scale; /* division, as ONNX QuantizeLinear and ONNX Runtime */
        ick_store_q(type, y, i, ick_clampi(ick_rne(ick_clampf(v)) + zp, lo, hi));
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
