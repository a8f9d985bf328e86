/* fp32 helpers for the LSTM and float graphs. Portable C; the k loop is written as 8 independent partial
 * sums so the compiler vectorizes it. Small sizes (LSTM over a few hundred features) make this adequate. */
#include "ick_internal.h"
#include <math.h>

void ick_sgemm(int32_t m, int32_t n, int32_t k, const float *a, size_t lda, const float *w, size_t ldw,
               const float *bias, float *c, size_t ldc, int accumulate) {
    for (int32_t i = 0; i < m; i++) {
        const float *restrict ar = a + (size_t)i * lda;
        for (int32_t j = 0; j < n; j++) {
            const float *restrict wr = w + (size_t)j * ldw;
            float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            int32_t q = 0;
            for (; q + 8 <= k; q += 8)
                for (int t = 0; t < 8; t++) s[t] += ar[q + t] * wr[q + t];
            float sum = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
            for (; q < k; q++) sum += ar[q] * wr[q];
            if (bias) sum += bias[j];
            float *o = c + (size_t)i * ldc + j;
            *o = accumulate ? *o + sum : sum;
        }
    }
}

void ick_sigmoid_f32(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        if (v >= 0) { const float e = expf(-v); y[i] = 1.0f / (1.0f + e); }
        else { const float e = expf(v); y[i] = e / (1.0f + e); }
    }
}

void ick_tanh_f32(size_t n, const float *x, float *y) {
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}
