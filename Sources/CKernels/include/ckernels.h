#ifndef CKERNELS_H
#define CKERNELS_H
/*
 * int8 inference kernels (QDQ semantics). Plain C; architecture-specific code lives only in this target.
 *
 * Conventions
 *  - Activations: NHWC, one image per call, uint8 or int8 with a per-tensor zero point.
 *    A "pixel stride" (elements between consecutive pixels) lets a tensor be a channel slice of a wider
 *    one (Concat in place); 0 means "dense" (= channel count).
 *  - Weights: int8, symmetric per output channel (zero point 0), ONNX layout OIHW
 *    [out_c][in_c/groups][kernel_h][kernel_w]; packed once at load by ick_conv_pack.
 *  - Bias: int32 with scale in_scale * w_scale[n] (ONNX QDQ convention); may be NULL (= 0).
 *  - Requantization (fused into every producer), defined exactly by the scalar reference:
 *        acc = bias[n] + sum_k (a[m,k] - in_zp) * w[n,k]          int32, two's complement wrap
 *        v   = (float)acc * mult[n]                                fp32, round to nearest even, no FMA
 *        v   = min(max(v, -65536.f), 65536.f)
 *        q   = min(max(rne(v) + out_zp, lo), hi)                   lo/hi implement fused Relu/Clip
 *    where mult[n] = in_scale * w_scale[n] / out_scale computed by the caller in fp32.
 *  - Optional fused residual Add (QDQ: Q(DQ(q) + DQ(r))), when ick_requant.residual != NULL:
 *        t = (float)(q - out_zp) * mid_ratio        (mid_ratio = out_scale / sum_scale)
 *        u = (float)(r - residual_zp) * residual_ratio   (residual_ratio = residual_scale / sum_scale)
 *        s = min(max(t + u, -65536.f), 65536.f)     (t and u are separate roundings: no FMA)
 *        y = min(max(rne(s) + sum_zp, sum_lo), sum_hi)
 *    q above is the conv's own quantized output (its clamp lo/hi is normally the full type range);
 *    the residual tensor has the output's type and shape. sum_lo/sum_hi implement a Relu after the Add.
 *  - Every integer variant (AVX2, AVX-512 VNNI, NEON, NEON dotprod) equals the scalar reference bit-exactly.
 *  - Kernels never allocate and never spawn threads: callers split work over output pixel ranges
 *    [m_begin, m_end) (pixels = batch * out_h * out_w, row-major) and give each thread its own scratch.
 *  - Buffers for packed weights and scratch must be 64-byte aligned.
 *  - Variant (ISA) is chosen once at first use by probing the CPU; env ICK_ISA=scalar|avx2|avx512vnni|neon|
 *    neondot overrides it, and ick_isa_force() too (call it before packing: packed weights are tied to the
 *    variant that packed them; run functions check this and return ICK_ERR_VARIANT).
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- variants ------------------------------------------------------------------------------------ */
/* The one list of variants: X(name, ENUM). Drives declarations, dispatch and tests. */
#define ICK_ISA_LIST(X)                                                                                    \
    X(scalar, SCALAR)                                                                                      \
    X(avx2, AVX2)                                                                                          \
    X(avx512vnni, AVX512VNNI)                                                                              \
    X(neon, NEON)                                                                                          \
    X(neondot, NEONDOT)

typedef enum ick_isa {
#define ICK_ENUM_(name, NAME) ICK_ISA_##NAME,
    ICK_ISA_LIST(ICK_ENUM_)
#undef ICK_ENUM_
    ICK_ISA_COUNT
} ick_isa;

/* Variant in use (probed once on first call). */
ick_isa ick_isa_active(void);
/* Name of the variant in use ("scalar", "avx2", "avx512vnni", "neon", "neondot"). */
const char *ick_isa_name(void);
/* Name of any variant. */
const char *ick_isa_label(ick_isa isa);
/* 1 if the variant is compiled in and this CPU can run it. */
int ick_isa_supported(ick_isa isa);
/* Make `isa` the active variant. Returns 0, or ICK_ERR_VARIANT if not supported here. */
int ick_isa_force(ick_isa isa);

/* ---- errors -------------------------------------------------------------------------------------- */
enum {
    ICK_OK = 0,
    ICK_ERR_ARG = -1,     /* invalid or absurd descriptor (non-positive size, groups not dividing, overflow),
                           * NULL or misaligned (not 64-byte) packed / scratch buffer */
    ICK_ERR_VARIANT = -2, /* packed data made by another variant, or variant unsupported */
};
/* Human-readable text for an ICK_ERR_* code. */
const char *ick_error_text(int code);

typedef enum ick_qtype { ICK_U8 = 0, ICK_S8 = 1 } ick_qtype;

/* ---- requantization parameters (see the definition above) ---------------------------------------- */
typedef struct ick_requant {
    const float *mult;        /* [out_c] in_scale * w_scale[n] / out_scale (per-tensor: repeat the value) */
    int32_t out_zp;           /* zero point of the conv's quantized output */
    int32_t lo, hi;           /* clamp of q; full type range, or Relu/Clip bounds */
    /* fused residual Add; residual == NULL disables it (the fields below are then ignored) */
    const void *residual;     /* same image/shape as the output, same type */
    int32_t residual_stride;  /* elements between residual pixels; 0 = out_c */
    int32_t residual_zp;
    float mid_ratio;          /* out_scale / sum_scale */
    float residual_ratio;     /* residual_scale / sum_scale */
    int32_t sum_zp, sum_lo, sum_hi;
} ick_requant;

/* ---- convolution (also Gemm / MatMul / 1x1 / grouped / depthwise) -------------------------------- */
/* A Gemm/MatMul with M rows, K inputs and N outputs is a 1x1 conv with in_h = 1, in_w = M, in_c = K,
 * out_c = N (weights [N][K] = OIHW with 1x1 kernel; transpose B if the graph stores it [K][N]). */
typedef struct ick_conv_desc {
    int32_t in_h, in_w, in_c;            /* input image, NHWC */
    int32_t out_c;
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;          /* dilation is 1 */
    int32_t pad_top, pad_left, pad_bottom, pad_right; /* padded with in_zp */
    int32_t groups;                      /* 1, ResNeXt's 32, or in_c == out_c == groups (depthwise) */
    ick_qtype type;                      /* of input, output and residual */
    int32_t in_zp;                       /* input zero point (also the padding value) */
    int32_t in_stride, out_stride;       /* elements between pixels; 0 = in_c / out_c */
    int32_t batch;                       /* images per call, stored one after another; 0 means 1. Pixel
                                          * m = (image * out_h + oy) * out_w + ox: small late layers of a batch
                                          * run as one GEMM so packed weights are reused across images. */
} ick_conv_desc;

/* ICK_OK or ICK_ERR_ARG (sizes <= 0, groups not dividing channels, output empty, absurd sizes: any
 * dimension > 1<<20, K = kernel_h*kernel_w*in_c/groups > 65536, zero point outside the type). */
int ick_conv_check(const ick_conv_desc *d);
int32_t ick_conv_out_h(const ick_conv_desc *d);
int32_t ick_conv_out_w(const ick_conv_desc *d);
/* Bytes of packed weights for the active variant (0 if the descriptor is invalid). */
size_t ick_conv_packed_size(const ick_conv_desc *d);
/* Pack OIHW int8 weights and int32 bias (may be NULL) into `packed` (64-byte aligned,
 * ick_conv_packed_size bytes). Returns ICK_OK or an error. */
int ick_conv_pack(const ick_conv_desc *d, const int8_t *weights, const int32_t *bias, void *packed);
/* 1 when ick_conv_pack chose the variant's byte format for these weights (AVX2: u8 x s8 vpmaddubsw, used only when
 * every pair of adjacent products provably stays inside int16, e.g. 7-bit weights as quantize_static(...,
 * reduce_range=True) makes them; results are identical either way), 0 for the variant's own format, -1 when
 * `packed` is not packed weights. */
int ick_conv_packed_bytes(const void *packed);
/* Bytes of per-call scratch (64-byte aligned) ick_conv_run needs; one per concurrent caller. */
size_t ick_conv_scratch_size(const ick_conv_desc *d);
/* Compute output pixels [m_begin, m_end) of the batch (pixel m = (image * out_h + oy) * out_w + ox).
 * input/output: uint8_t* or int8_t* per d->type. Returns ICK_OK or an error. */
int ick_conv_run(const ick_conv_desc *d, const void *packed, const ick_requant *rq, const void *input,
                 void *output, int32_t m_begin, int32_t m_end, void *scratch);

/* ---- pooling ------------------------------------------------------------------------------------- */
typedef struct ick_pool_desc {
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;                /* given by the caller (ceil_mode is the caller's choice) */
    int32_t kernel_h, kernel_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;           /* windows are clipped to the input (MaxPool: pads ignored) */
    int32_t pad_bottom, pad_right;       /* used only for AveragePool count_include_pad */
    int32_t count_include_pad;           /* AveragePool: divide by the window clipped to the padded input */
    ick_qtype type;
    int32_t in_stride, out_stride;       /* elements between pixels; 0 = channels */
} ick_pool_desc;

int ick_pool_check(const ick_pool_desc *d);
/* MaxPool (input and output share scale and zero point). Output pixels [m_begin, m_end). */
int ick_maxpool(const ick_pool_desc *d, const void *input, void *output, int32_t m_begin, int32_t m_end);
/* AveragePool: acc = sum(a - in_zp) over the window; v = (float)acc * (ratio / (float)count);
 * out = clamp(rne(clamp(v, +-65536)) + out_zp, lo, hi); ratio = in_scale / out_scale. A window with no
 * input pixels writes out_zp clamped. */
int ick_avgpool(const ick_pool_desc *d, const void *input, void *output, int32_t in_zp, float ratio,
                int32_t out_zp, int32_t lo, int32_t hi, int32_t m_begin, int32_t m_end);
/* GlobalAveragePool of one image [hw][channels] (pixel stride in_stride, 0 = channels) into
 * output[channels]; same arithmetic as ick_avgpool with count = hw. */
int ick_global_avgpool(int32_t hw, int32_t channels, ick_qtype type, const void *input, int32_t in_stride,
                       void *output, int32_t in_zp, float ratio, int32_t out_zp, int32_t lo, int32_t hi);

/* ---- elementwise --------------------------------------------------------------------------------- */
/* QuantizeLinear: y = clamp(rne(clamp(x / scale, +-65536)) + zp, type range). NaN -> type minimum. */
void ick_quantize_f32(size_t n, const float *x, float scale, int32_t zp, ick_qtype type, void *y);
/* DequantizeLinear: y = (float)(q - zp) * scale. */
void ick_dequantize_f32(size_t n, const void *q, ick_qtype type, float scale, int32_t zp, float *y);
/* Standalone QDQ Add (when it cannot be fused): y = clamp(rne(clamp((float)(a - a_zp) * a_ratio +
 * (float)(b - b_zp) * b_ratio, +-65536)) + y_zp, lo, hi) with a_ratio = a_scale / y_scale etc.
 * (two separate products, then the sum: no FMA). a, b, y of the same type. */
void ick_qadd(size_t n, ick_qtype type, const void *a, int32_t a_zp, float a_ratio, const void *b,
              int32_t b_zp, float b_ratio, void *y, int32_t y_zp, int32_t lo, int32_t hi);

/* Layout of one image: NCHW [channels][pixels] -> NHWC [pixels][channels] (to_nhwc = 1) or back (0), for
 * elements of 1 or 4 bytes (ICK_ERR_ARG otherwise). src and dst do not overlap. */
int ick_layout_image(int to_nhwc, size_t channels, size_t pixels, size_t elem_size, const void *src, void *dst);

/* ---- fp32 (LSTM and float models) ---------------------------------------------------------------- */
/* C[m][n] = (accumulate ? C[m][n] : 0) + bias[n] (bias may be NULL) + sum_k A[m][k] * W[n][k].
 * Not bit-identical across variants (summation order); exact to fp32 rounding. */
void ick_sgemm(int32_t m, int32_t n, int32_t k, const float *a, size_t lda, const float *w, size_t ldw,
               const float *bias, float *c, size_t ldc, int accumulate);
void ick_sigmoid_f32(size_t n, const float *x, float *y);
void ick_tanh_f32(size_t n, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif
