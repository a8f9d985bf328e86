/* Kernel tests: every variant compiled for this architecture against the exact scalar definitions
 * (ick_ref_*), plus pooling / elementwise / fp32 against naive loops written here.
 * Prints one line per failure and a closing "kernels: N passed, M failed, S skipped"; exit 1 on failure. */
#define _POSIX_C_SOURCE 200809L
#include "ick_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int passed, failed, skipped;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}
static int32_t rnd_range(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_unit(void) { return (float)(rnd() & 0xFFFFFF) / 16777216.0f; }
static void *xalloc(size_t n) {
    void *p = aligned_alloc(ICK_ALIGN, ICK_ROUND_UP(n ? n : 1, ICK_ALIGN));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static void check(int ok, const char *what) {
    if (ok) passed++;
    else { failed++; printf("FAIL: %s\n", what); }
}

/* ---- convolution ---- */
typedef struct conv_case {
    int32_t h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, groups;
    int fill; /* 0 random, 1 saturation (max activations, min weights), 2 small values with tie-heavy mult,
               * 3 random values with extreme multipliers (huge, inf, NaN) */
    int32_t batch; /* 0 = 1 */
} conv_case;

static const conv_case conv_cases[] = {
    /* gemm-like 1x1, remainders in M, N, K */
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {1, 7, 3, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {1, 13, 17, 33, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {4, 5, 64, 64, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {3, 11, 31, 47, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {1, 37, 96, 100, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {7, 7, 128, 24, 1, 1, 2, 2, 0, 0, 0, 0, 1, 0, 0},
    /* 3x3, padding, stride */
    {6, 6, 3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {9, 7, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {9, 10, 5, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0},
    {8, 8, 32, 48, 3, 3, 2, 1, 0, 1, 1, 0, 1, 0, 0},
    {12, 12, 3, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 0, 0},
    {5, 6, 8, 8, 5, 3, 1, 2, 2, 1, 2, 1, 1, 0, 0},
    {20, 20, 24, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    /* groups (ResNeXt-like) */
    {6, 6, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 0},
    {5, 7, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 32, 0, 0},
    {4, 4, 256, 256, 3, 3, 1, 1, 1, 1, 1, 1, 32, 0, 0},
    {3, 5, 12, 18, 1, 1, 1, 1, 0, 0, 0, 0, 3, 0, 0},
    /* depthwise */
    {7, 9, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {7, 9, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16, 0, 0},
    {11, 10, 37, 37, 3, 3, 2, 2, 1, 1, 1, 1, 37, 0, 0},
    {9, 9, 67, 67, 5, 5, 1, 1, 2, 2, 2, 2, 67, 0, 0},
    {8, 8, 96, 96, 3, 3, 2, 2, 0, 0, 1, 1, 96, 0, 0},
    /* long K: chunked accumulation (K > 1024, last chunk partial) */
    {4, 5, 160, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0},
    {1, 9, 1100, 19, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},
    {3, 3, 1024, 64, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 2},
    /* saturation extremes: all max activations x all -128 weights, large K */
    {3, 3, 512, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0},
    {2, 2, 2048, 17, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0},
    {5, 5, 40, 40, 3, 3, 1, 1, 1, 1, 1, 1, 40, 1, 0},
    /* extreme multipliers (fill 3): every saturation path of the epilogues */
    {4, 9, 40, 48, 1, 1, 1, 1, 0, 0, 0, 0, 1, 3, 0},
    {6, 6, 24, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 3, 0},
    {5, 7, 48, 48, 3, 3, 1, 1, 1, 1, 1, 1, 48, 3, 0},
    /* batches: pixel ranges crossing images */
    {5, 4, 24, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 3},
    {4, 4, 48, 48, 3, 3, 2, 2, 1, 1, 1, 1, 48, 0, 3},
    {3, 3, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 8, 0, 5},
    {1, 1, 70, 30, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 13},
    /* ties in rounding */
    {4, 9, 9, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2, 0},
    {4, 9, 21, 21, 3, 3, 1, 1, 1, 1, 1, 1, 21, 2, 0},
};

static void fill_q(ick_qtype t, void *p, size_t n, int fill) {
    for (size_t i = 0; i < n; i++) {
        int32_t v = fill == 1 ? ick_qmax(t) : fill == 2 ? rnd_range(ick_qmin(t) / 16 + 8, ick_qmax(t) / 16 + 8)
                                                       : rnd_range(ick_qmin(t), ick_qmax(t));
        ick_store_q(t, p, i, v);
    }
}

/* Portable emulations of the byte-format micro-kernels (VNNI: u8 x s8 quads; dotprod: s8 x s8 quads), so the
 * packing, zero-point folding and padding of those formats are checked on every machine, even one that cannot
 * run the real instructions. Only the intrinsic inner loops then remain for the real CPUs. */
static void emu_quads(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc, int mr, int nr, int a_unsigned) {
    const int8_t *wp = (const int8_t *)w;
    for (int r = 0; r < mr; r++)
        for (int c = 0; c < nr; c++) {
            uint32_t sum = 0;
            for (int32_t k = 0; k < kp; k++) {
                const uint8_t raw = ((const uint8_t *)a)[r * lda + k];
                const int32_t av = a_unsigned ? (int32_t)raw : (int32_t)(int8_t)raw;
                sum += (uint32_t)(av * wp[((size_t)(k / 4) * nr + c) * 4 + k % 4]);
            }
            acc[r * nr + c] = (int32_t)sum;
        }
}
static void emu_vnni(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) { emu_quads(kp, a, lda, w, acc, 8, 16, 1); }
static void emu_dot(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) { emu_quads(kp, a, lda, w, acc, 8, 8, 0); }
/* AVX2's two formats: int16 pairs (vpmaddwd) and bytes, where vpmaddubsw adds each pair of u8 x s8 products into
 * int16 WITH SATURATION (emulated as the instruction does it), vpmaddwd(ones) + vpaddd then sum exactly. */
static void emu_pairs_i16(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const int16_t *wp = (const int16_t *)w;
    for (int r = 0; r < 6; r++)
        for (int c = 0; c < 16; c++) {
            uint32_t sum = 0;
            const int16_t *ar = (const int16_t *)((const uint8_t *)a + r * lda);
            for (int32_t k = 0; k < kp; k++) sum += (uint32_t)(ar[k] * wp[((size_t)(k / 2) * 16 + c) * 2 + k % 2]);
            acc[r * 16 + c] = (int32_t)sum;
        }
}
static int32_t sat16(int32_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
static void emu_maddubs(int32_t kp, const void *a, size_t lda, const void *w, int32_t *acc) {
    const int8_t *wp = (const int8_t *)w;
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 16; c++) {
            uint32_t sum = 0;
            const uint8_t *ar = (const uint8_t *)a + r * lda;
            for (int32_t k = 0; k < kp; k += 2) {
                const int8_t *wk = wp + ((size_t)(k / 4) * 16 + c) * 4 + k % 4;
                sum += (uint32_t)sat16(ar[k] * wk[0] + ar[k + 1] * wk[1]);
            }
            acc[r * 16 + c] = (int32_t)sum;
        }
}
static const ick_variant emu_avx2_bytes = {.isa = ICK_ISA_AVX2, .mr = 5, .nr = 16, .kr = 4, .kalign = 4, .afmt = ICK_AFMT_U8,
                                           .w_bytes = 1, .ukernel = emu_maddubs, .requant_row = ick_requant_row__scalar,
                                           .dwconv = ick_dwconv__scalar};
#define N_EMULATED 3
static const ick_variant emulated[N_EMULATED] = {
    {.isa = ICK_ISA_AVX512VNNI, .mr = 8, .nr = 16, .kr = 4, .kalign = 4, .afmt = ICK_AFMT_U8, .w_bytes = 1,
     .ukernel = emu_vnni, .requant_row = ick_requant_row__scalar, .dwconv = ick_dwconv__scalar},
    {.isa = ICK_ISA_NEONDOT, .mr = 8, .nr = 8, .kr = 4, .kalign = 16, .afmt = ICK_AFMT_S8, .w_bytes = 1,
     .ukernel = emu_dot, .requant_row = ick_requant_row__scalar, .dwconv = ick_dwconv__scalar},
    {.isa = ICK_ISA_AVX2, .mr = 6, .nr = 16, .kr = 2, .kalign = 2, .afmt = ICK_AFMT_I16, .w_bytes = 2,
     .ukernel = emu_pairs_i16, .requant_row = ick_requant_row__scalar, .dwconv = ick_dwconv__scalar,
     .bytes = &emu_avx2_bytes},
};
static const char *const emulated_label[N_EMULATED] = {"avx512vnni layout, emulated", "neondot layout, emulated",
                                                       "avx2 int16/bytes layouts, emulated"};

/* Weights: 0 = full int8 range, 1 = 7-bit (|w| <= 64, what quantize_static(reduce_range=True) makes). */
static int weights7;
static int bytes_layers, int16_layers; /* layers packed in each format by variants that have both */

/* One conv case, one type / zero point / epilogue, every variant. */
/* in_extra / out_extra: extra elements per pixel (the tensor is a channel slice of a wider one); the bytes
 * outside the slice must stay untouched. */
static void run_conv_ex(const conv_case *cc, ick_qtype type, int32_t zp, int residual, int relu, int32_t in_extra,
                        int32_t out_extra) {
    ick_conv_desc d = {.in_h = cc->h, .in_w = cc->w, .in_c = cc->cin, .out_c = cc->cout, .kernel_h = cc->kh,
                       .kernel_w = cc->kw, .stride_h = cc->sh, .stride_w = cc->sw, .pad_top = cc->pt,
                       .pad_left = cc->pl, .pad_bottom = cc->pb, .pad_right = cc->pr, .groups = cc->groups,
                       .type = type, .in_zp = zp, .batch = cc->batch,
                       .in_stride = in_extra ? cc->cin + in_extra : 0, .out_stride = out_extra ? cc->cout + out_extra : 0};
    const int32_t is = cc->cin + in_extra, os = cc->cout + out_extra;
    const int32_t nb = cc->batch ? cc->batch : 1;
    char name[256];
    snprintf(name, sizeof name, "conv +%d/+%d b%d %dx%dx%d->%d k%dx%d s%d,%d p%d,%d,%d,%d g%d %s zp=%d res=%d relu=%d fill=%d",
             in_extra, out_extra, nb, cc->h, cc->w, cc->cin, cc->cout, cc->kh, cc->kw, cc->sh, cc->sw, cc->pt, cc->pl, cc->pb, cc->pr,
             cc->groups, type == ICK_U8 ? "u8" : "s8", zp, residual, relu, cc->fill);
    if (ick_conv_check(&d) != ICK_OK) { check(0, name); return; }
    const int32_t npix = nb * ick_conv_out_h(&d) * ick_conv_out_w(&d);
    const int32_t k = cc->kh * cc->kw * cc->cin / cc->groups;
    const size_t in_n = (size_t)nb * cc->h * cc->w * is, out_n = (size_t)npix * os, w_n = (size_t)cc->cout * k;
    uint8_t *in = xalloc(in_n), *res = xalloc(out_n), *ref = xalloc(out_n), *out = xalloc(out_n);
    int8_t *w = xalloc(w_n);
    int32_t *bias = xalloc(cc->cout * 4);
    float *mult = xalloc(cc->cout * 4);
    fill_q(type, in, in_n, cc->fill);
    fill_q(type, res, out_n, 0);
    for (size_t i = 0; i < w_n; i++)
        w[i] = cc->fill == 1 ? (weights7 ? -64 : -128) : cc->fill == 2 ? (int8_t)rnd_range(-3, 3)
                                                                      : (int8_t)(weights7 ? rnd_range(-64, 64) : rnd_range(-128, 127));
    for (int32_t n = 0; n < cc->cout; n++) {
        bias[n] = cc->fill == 2 ? rnd_range(-20, 20) : rnd_range(-30000, 30000);
        mult[n] = cc->fill == 2 ? 0.5f : cc->fill == 1 ? 1e-6f * (1 + rnd_unit())
                                       : (1.0f + 3 * rnd_unit()) / (sqrtf((float)k) * 64.0f * 40.0f);
        if (cc->fill == 3) { /* out-of-range products: beyond +-65536, beyond +-2^31, inf, NaN, around +-32768 */
            static const float extreme[] = {1e6f, -1e6f, 3e9f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f, 0.25f, 2e-3f};
            mult[n] = extreme[rnd_range(0, 9)];
        }
    }
    ick_requant rq = {.mult = mult, .out_zp = rnd_range(ick_qmin(type), ick_qmax(type)), .lo = ick_qmin(type),
                      .hi = ick_qmax(type)};
    if (relu) { rq.lo = rq.out_zp; rq.hi = rnd_range(0, 1) ? ick_qmax(type) : rnd_range(rq.out_zp, ick_qmax(type)); } /* Relu or Clip */
    if (residual) {
        rq.residual = res; rq.residual_stride = out_extra ? os : 0; rq.residual_zp = rnd_range(ick_qmin(type), ick_qmax(type));
        rq.mid_ratio = 0.5f + rnd_unit(); rq.residual_ratio = 0.5f + rnd_unit();
        rq.sum_zp = rnd_range(ick_qmin(type), ick_qmax(type)); rq.sum_lo = relu ? rq.sum_zp : ick_qmin(type);
        rq.sum_hi = ick_qmax(type);
        rq.lo = ick_qmin(type); rq.hi = ick_qmax(type);
    }
    memset(ref, 0xA5, out_n);
    /* the oracle runs image by image (batch 1), so batching itself is checked too */
    const int32_t per_image = npix / nb;
    for (int32_t b = 0; b < nb; b++) {
        ick_conv_desc d1 = d;
        d1.batch = 1;
        ick_requant rq1 = rq;
        if (rq.residual) rq1.residual = res + (size_t)b * per_image * os;
        ick_ref_conv(&d1, w, bias, &rq1, in + (size_t)b * cc->h * cc->w * is, ref + (size_t)b * per_image * os,
                     0, per_image);
    }
    const int depthwise = cc->groups > 1 && cc->groups == cc->cin && cc->groups == cc->cout;
    for (int isa = 0; isa < ICK_ISA_COUNT + N_EMULATED; isa++) {
        const ick_variant *v = isa < ICK_ISA_COUNT ? ick_variant_get((ick_isa)isa) : &emulated[isa - ICK_ISA_COUNT];
        if (!v) continue; /* reported once in main */
        const char *label = isa < ICK_ISA_COUNT ? ick_isa_label((ick_isa)isa) : emulated_label[isa - ICK_ISA_COUNT];
        void *packed = xalloc(ick_conv_packed_size_v(v, &d));
        void *scratch = xalloc(ick_conv_scratch_size_v(v, &d));
        memset(out, 0xA5, out_n);
        int rc = ick_conv_pack_v(v, &d, w, bias, packed);
        if (rc == ICK_OK && v->bytes) {
            /* the byte format exactly when the weights keep it exact; always for 7-bit weights, never depthwise */
            const int want = !depthwise && ick_conv_bytes_exact(&d, w), got = ick_conv_packed_bytes(packed);
            char fmsg[400];
            snprintf(fmsg, sizeof fmsg, "%s [%s] packed format bytes=%d, want %d", name, label, got, want);
            check(got == want && (!weights7 || want == !depthwise), fmsg);
            if (got == 1) bytes_layers++; else int16_layers++;
        }
        const int32_t mid = npix / 3; /* two ranges, as two threads would */
        if (rc == ICK_OK) rc = ick_conv_run_v(v, &d, packed, &rq, in, out, 0, mid, scratch);
        if (rc == ICK_OK) rc = ick_conv_run_v(v, &d, packed, &rq, in, out, mid, npix, scratch);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < out_n; i++)
            if (out[i] != ref[i] && !bad++) first = i;
        char msg[400];
        snprintf(msg, sizeof msg, "%s [%s] rc=%d mismatches=%zu first@%zu got %d want %d", name, label, rc, bad, first, ick_load_q(type, out, first), ick_load_q(type, ref, first));
        check(rc == ICK_OK && bad == 0, msg);
        free(packed); free(scratch);
    }
    free(in); free(res); free(ref); free(out); free(w); free(bias); free(mult);
}

static void run_conv(const conv_case *cc, ick_qtype type, int32_t zp, int residual, int relu) {
    run_conv_ex(cc, type, zp, residual, relu, 0, 0);
}

/* Random descriptors: odd sizes, asymmetric pads, strides, groups, batches and channel-slice strides. */
static void test_conv_random(int count) {
    for (int i = 0; i < count; i++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        const int kind = rnd_range(0, 3); /* 0 dense, 1 grouped, 2 depthwise, 3 1x1 gemm-like */
        c.kh = kind == 3 ? 1 : rnd_range(1, 5);
        c.kw = kind == 3 ? 1 : rnd_range(1, 5);
        c.sh = rnd_range(1, 3); c.sw = rnd_range(1, 3);
        c.pt = rnd_range(0, c.kh); c.pb = rnd_range(0, c.kh); c.pl = rnd_range(0, c.kw); c.pr = rnd_range(0, c.kw);
        c.h = rnd_range(c.kh > c.pt + c.pb ? c.kh - c.pt - c.pb : 1, 9);
        c.w = rnd_range(c.kw > c.pl + c.pr ? c.kw - c.pl - c.pr : 1, 9);
        c.groups = kind == 1 ? rnd_range(2, 5) : 1;
        const int32_t cin_g = rnd_range(1, 40), cout_g = rnd_range(1, 40);
        if (kind == 2) { c.groups = rnd_range(2, 70); c.cin = c.cout = c.groups; }
        else { c.cin = cin_g * c.groups; c.cout = cout_g * c.groups; }
        c.batch = rnd_range(0, 3);
        const ick_qtype type = rnd_range(0, 1) ? ICK_S8 : ICK_U8;
        const int32_t zp = rnd_range(ick_qmin(type), ick_qmax(type));
        run_conv_ex(&c, type, zp, rnd_range(0, 2) == 0, rnd_range(0, 1), rnd_range(0, 1) ? rnd_range(1, 9) : 0,
                    rnd_range(0, 1) ? rnd_range(1, 9) : 0);
    }
}

static void test_conv(void) {
    static const int32_t u8_zps[] = {0, 128, 255, 3};
    static const int32_t s8_zps[] = {-128, 0, 127, -5};
    for (size_t c = 0; c < sizeof conv_cases / sizeof conv_cases[0]; c++) {
        for (int t = 0; t < 2; t++) {
            const ick_qtype type = t ? ICK_S8 : ICK_U8;
            const int32_t *zps = t ? s8_zps : u8_zps;
            for (int z = 0; z < 4; z++) {
                const int32_t zp = conv_cases[c].fill == 1 ? (t ? -128 : 0) : zps[z];
                run_conv(&conv_cases[c], type, zp, z == 1, z == 2);
            }
        }
    }
}

/* The saturation edge of the byte format. Weights are built pair by pair in im2col order (k = t * cin_g + ci, pairs
 * (2j, 2j+1)) from pairs whose positive / negative parts sum to exactly 128 / -128 (legal: the format must be chosen
 * and exact), and activations stored as 255 or 0 (u8 255/0, s8 127/-128), which puts the products of those pairs
 * at +-32640, the int16 limit the format relies on. With one pair pushed to 129 / -129 the packer must fall back to
 * int16 and stay exact; packing such weights in the byte format anyway must give wrong results (the guard
 * matters, and the emulation saturates like vpmaddubsw). */
static const int8_t edge_pairs[][2] = {{64, 64}, {127, 1}, {1, 127}, {100, 28}, {-64, -64}, {-128, 0}, {0, -128},
                                       {-100, -28}, {127, -128}, {-128, 127}, {64, -128}, {-1, -127}};
static const int8_t over_pairs[][2] = {{65, 64}, {64, 65}, {127, 2}, {-65, -64}, {-128, -1}, {-1, -128}};

static void edge_weights(const conv_case *cc, int8_t *w, int violate) {
    const int32_t cin_g = cc->cin / cc->groups, taps = cc->kh * cc->kw, k = taps * cin_g;
    for (int32_t n = 0; n < cc->cout; n++)
        for (int32_t kk = 0; kk < k; kk += 2) {
            const int8_t *p = edge_pairs[rnd_range(0, (int32_t)(sizeof edge_pairs / sizeof edge_pairs[0]) - 1)];
            for (int32_t j = 0; j < 2 && kk + j < k; j++) {
                const int32_t q = kk + j; /* im2col index -> OIHW [n][ci][t] */
                w[((size_t)n * cin_g + q % cin_g) * taps + q / cin_g] = kk + 1 < k ? p[j] : (int8_t)rnd_range(-128, 127);
            }
        }
    if (violate) {
        const int32_t n = rnd_range(0, cc->cout - 1), kk = 2 * rnd_range(0, k / 2 - 1);
        const int8_t *p = over_pairs[rnd_range(0, (int32_t)(sizeof over_pairs / sizeof over_pairs[0]) - 1)];
        for (int32_t j = 0; j < 2; j++)
            w[((size_t)n * cin_g + (kk + j) % cin_g) * taps + (kk + j) / cin_g] = p[j];
    }
}

/* sum_k (a - zp) * w of output pixel m (image 0), channel n, straight from the definition. */
static int32_t naive_acc(const ick_conv_desc *d, const int8_t *w, const void *in, int32_t m, int32_t n) {
    const int32_t ow = ick_conv_out_w(d), oy = m / ow, ox = m % ow, cin_g = d->in_c / d->groups;
    const int32_t g = n / (d->out_c / d->groups);
    int32_t acc = 0;
    for (int32_t ci = 0; ci < cin_g; ci++)
        for (int32_t ky = 0; ky < d->kernel_h; ky++)
            for (int32_t kx = 0; kx < d->kernel_w; kx++) {
                const int32_t iy = oy * d->stride_h - d->pad_top + ky, ix = ox * d->stride_w - d->pad_left + kx;
                if (iy < 0 || ix < 0 || iy >= d->in_h || ix >= d->in_w) continue;
                const int32_t a = ick_load_q(d->type, in, ((size_t)iy * d->in_w + ix) * d->in_c + g * cin_g + ci);
                acc += (a - d->in_zp) * w[(((size_t)n * cin_g + ci) * d->kernel_h + ky) * d->kernel_w + kx];
            }
    return acc;
}

static void test_bytes_edge(void) {
    static const conv_case cases[] = {
        {1, 9, 8, 20, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},       /* pointwise, N remainder (tail half) */
        {6, 7, 5, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0},       /* odd cin: pairs straddle taps; padding, stride */
        {5, 6, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 2},      /* batch */
        {6, 6, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 8, 0, 0},      /* groups of 8 channels (narrow panels) */
        {9, 9, 3, 16, 5, 5, 2, 2, 2, 2, 2, 2, 1, 0, 0},       /* stem-like, K = 75 (odd) */
        {2, 3, 1100, 17, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0},    /* chunked K */
        {4, 4, 21, 21, 3, 3, 1, 1, 1, 1, 1, 1, 21, 0, 0},     /* depthwise: never the byte format */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 2; t++)
            for (int violate = 0; violate < 2; violate++) {
                const conv_case *cc = &cases[c];
                const ick_qtype type = t ? ICK_S8 : ICK_U8;
                const int32_t zp = rnd_range(ick_qmin(type), ick_qmax(type));
                ick_conv_desc d = {.in_h = cc->h, .in_w = cc->w, .in_c = cc->cin, .out_c = cc->cout, .kernel_h = cc->kh,
                                   .kernel_w = cc->kw, .stride_h = cc->sh, .stride_w = cc->sw, .pad_top = cc->pt,
                                   .pad_left = cc->pl, .pad_bottom = cc->pb, .pad_right = cc->pr, .groups = cc->groups,
                                   .type = type, .in_zp = zp, .batch = cc->batch};
                const int32_t nb = cc->batch ? cc->batch : 1, npix = nb * ick_conv_out_h(&d) * ick_conv_out_w(&d);
                const int32_t k = cc->kh * cc->kw * cc->cin / cc->groups;
                const size_t in_n = (size_t)nb * cc->h * cc->w * cc->cin, out_n = (size_t)npix * cc->cout;
                uint8_t *in = xalloc(in_n), *ref = xalloc(out_n), *out = xalloc(out_n);
                int8_t *w = xalloc((size_t)cc->cout * k);
                int32_t *bias = xalloc(cc->cout * 4);
                float *mult = xalloc(cc->cout * 4);
                for (size_t i = 0; i < in_n; i++) ick_store_q(type, in, i, rnd_range(0, 3) ? ick_qmax(type) : ick_qmin(type));
                edge_weights(cc, w, violate);
                /* bias cancels the sum of a middle pixel, mult = 1/64: an accumulator off by the 128 that one
                 * saturated pair loses shows as 2 steps there and around it */
                const int32_t mid_pixel = ick_conv_out_h(&d) / 2 * ick_conv_out_w(&d) + ick_conv_out_w(&d) / 2;
                for (int32_t n = 0; n < cc->cout; n++) {
                    bias[n] = -naive_acc(&d, w, in, mid_pixel, n);
                    mult[n] = 1.0f / 64;
                }
                ick_requant rq = {.mult = mult, .out_zp = type == ICK_U8 ? 128 : 0, .lo = ick_qmin(type), .hi = ick_qmax(type)};
                ick_ref_conv(&d, w, bias, &rq, in, ref, 0, npix);
                const int depthwise = cc->groups == cc->cin && cc->groups == cc->cout;
                for (int isa = 0; isa < ICK_ISA_COUNT + N_EMULATED; isa++) {
                    const ick_variant *v = isa < ICK_ISA_COUNT ? ick_variant_get((ick_isa)isa) : &emulated[isa - ICK_ISA_COUNT];
                    if (!v) continue;
                    const char *label = isa < ICK_ISA_COUNT ? ick_isa_label((ick_isa)isa) : emulated_label[isa - ICK_ISA_COUNT];
                    void *packed = xalloc(ick_conv_packed_size_v(v, &d)), *scratch = xalloc(ick_conv_scratch_size_v(v, &d));
                    memset(out, 0xA5, out_n);
                    int rc = ick_conv_pack_v(v, &d, w, bias, packed);
                    const int fmt = ick_conv_packed_bytes(packed);
                    if (rc == ICK_OK) rc = ick_conv_run_v(v, &d, packed, &rq, in, out, 0, npix / 2, scratch);
                    if (rc == ICK_OK) rc = ick_conv_run_v(v, &d, packed, &rq, in, out, npix / 2, npix, scratch);
                    size_t bad = 0;
                    for (size_t i = 0; i < out_n; i++) bad += out[i] != ref[i];
                    const int want_fmt = v->bytes && !violate && !depthwise;
                    char msg[300];
                    snprintf(msg, sizeof msg, "byte-format edge case %zu %s %s [%s]: rc=%d format bytes=%d (want %d), %zu wrong",
                             c, t ? "s8" : "u8", violate ? "one pair over the bound" : "pairs at the bound", label, rc, fmt,
                             want_fmt, bad);
                    check(rc == ICK_OK && bad == 0 && fmt == want_fmt, msg);
                    free(packed); free(scratch);
                }
                free(in); free(ref); free(out); free(w); free(bias); free(mult);
            }
}

/* Packing weights that break the bound in the byte format anyway (bypassing the guard) must saturate: the
 * emulation and, where the CPU has it, the real AVX2 byte kernel. One pair (65, 64) x activations 255 sums to
 * 32895 > 32767, so the accumulator loses 128; bias cancels the true sum and mult = 1/64 shows it as 2 steps. */
static void test_bytes_guard_needed(void) {
    ick_conv_desc d = {.in_h = 1, .in_w = 6, .in_c = 2, .out_c = 16, .kernel_h = 1, .kernel_w = 1, .stride_h = 1,
                       .stride_w = 1, .groups = 1, .type = ICK_U8, .in_zp = 0};
    uint8_t in[12], ref[6 * 16], out[6 * 16];
    int8_t w[32];
    int32_t bias[16];
    float mult[16];
    memset(in, 255, sizeof in);
    for (int n = 0; n < 16; n++) { w[2 * n] = 65; w[2 * n + 1] = 64; bias[n] = -255 * 129; mult[n] = 1.0f / 64; }
    ick_requant rq = {.mult = mult, .out_zp = 100, .lo = 0, .hi = 255};
    ick_ref_conv(&d, w, bias, &rq, in, ref, 0, 6);
    check(ref[0] == 100 && !ick_conv_bytes_exact(&d, w), "guard case: reference gives the zero point, weights refused");
    const ick_variant *real = ick_variant_get(ICK_ISA_AVX2);
    const ick_variant *forced[2] = {&emu_avx2_bytes, real ? real->bytes : NULL};
    for (int i = 0; i < 2; i++) {
        if (!forced[i]) { printf("kernels: SKIP real AVX2 byte kernel saturation check: no AVX2 here\n"); skipped++; continue; }
        void *packed = xalloc(ick_conv_packed_size_v(forced[i], &d)), *scratch = xalloc(ick_conv_scratch_size_v(forced[i], &d));
        int rc = ick_conv_pack_v(forced[i], &d, w, bias, packed);
        if (rc == ICK_OK) rc = ick_conv_run_v(forced[i], &d, packed, &rq, in, out, 0, 6, scratch);
        char msg[200];
        snprintf(msg, sizeof msg, "byte format forced on weights over the bound saturates (%s): got %d, exact %d",
                 i ? "real vpmaddubsw" : "emulated", out[0], ref[0]);
        check(rc == ICK_OK && out[0] == 98 && ref[0] == 100, msg);
        free(packed); free(scratch);
    }
}

static void test_conv_errors(void) {
    ick_conv_desc d = {.in_h = 8, .in_w = 8, .in_c = 6, .out_c = 4, .kernel_h = 3, .kernel_w = 3, .stride_h = 1,
                       .stride_w = 1, .groups = 4, .type = ICK_U8};
    check(ick_conv_check(&d) == ICK_ERR_ARG, "groups not dividing channels rejected");
    d.groups = 1; d.in_h = 1 << 21;
    check(ick_conv_check(&d) == ICK_ERR_ARG, "absurd height rejected");
    d.in_h = 8; d.in_c = 1 << 16;
    check(ick_conv_check(&d) == ICK_ERR_ARG, "K over 65536 rejected");
    d.in_c = 6; d.kernel_h = 9;
    check(ick_conv_check(&d) == ICK_ERR_ARG, "kernel larger than padded input rejected");
    d.kernel_h = 3; d.in_zp = 300;
    check(ick_conv_check(&d) == ICK_ERR_ARG, "zero point outside type rejected");
    d.in_zp = 0; d.stride_w = 0;
    check(ick_conv_check(&d) == ICK_ERR_ARG, "zero stride rejected");
    d.stride_w = 1;
    check(ick_conv_check(&d) == ICK_OK && ick_conv_packed_size(&d) > 0, "valid descriptor accepted");
    /* packed data of one variant refused by another */
    const ick_variant *sv = ick_variant_get(ICK_ISA_SCALAR), *other = NULL;
    for (int i = 1; i < ICK_ISA_COUNT && !other; i++) other = ick_variant_get((ick_isa)i);
    if (other) {
        int8_t w[4 * 6 * 9] = {0};
        uint8_t in[8 * 8 * 6] = {0}, out[8 * 8 * 4];
        float mult[4] = {1, 1, 1, 1};
        ick_requant rq = {.mult = mult, .lo = 0, .hi = 255};
        void *packed = xalloc(ick_conv_packed_size_v(sv, &d));
        void *scratch = xalloc(ick_conv_scratch_size_v(other, &d) + ick_conv_scratch_size_v(sv, &d));
        check(ick_conv_pack_v(sv, &d, w, NULL, (uint8_t *)packed + 8) == ICK_ERR_ARG, "misaligned packed buffer refused");
        ick_conv_pack_v(sv, &d, w, NULL, packed);
        check(ick_conv_run_v(sv, &d, packed, &rq, in, out, 0, 36, (uint8_t *)scratch + 4) == ICK_ERR_ARG,
              "misaligned scratch refused");
        check(ick_conv_run_v(other, &d, packed, &rq, in, out, 0, 36, scratch) == ICK_ERR_VARIANT,
              "packed weights of another variant refused");
        free(packed); free(scratch);
    }
}

/* ---- pooling (single implementation, checked against naive loops) ---- */
static void test_pool(void) {
    static const int32_t shapes[][9] = {
        /* h, w, c, k, s, pad, ceil(extra out), count_include_pad, extra elements per pixel (channel slice) */
        {8, 8, 16, 3, 2, 1, 0, 0}, {7, 9, 5, 3, 2, 1, 1, 1, 3}, {10, 10, 33, 2, 2, 0, 0, 0}, {6, 5, 300, 3, 1, 1, 0, 1, 7},
        {5, 5, 3, 5, 1, 2, 0, 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 2; t++) {
            const ick_qtype type = t ? ICK_S8 : ICK_U8;
            const int32_t *p = shapes[s];
            ick_pool_desc d = {.in_h = p[0], .in_w = p[1], .channels = p[2], .kernel_h = p[3], .kernel_w = p[3],
                               .stride_h = p[4], .stride_w = p[4], .pad_top = p[5], .pad_left = p[5],
                               .pad_bottom = p[5], .pad_right = p[5], .count_include_pad = p[7], .type = type,
                               .in_stride = p[8] ? p[2] + p[8] : 0, .out_stride = p[8] ? p[2] + p[8] : 0};
            const int32_t ps = p[2] + p[8];
            d.out_h = (p[0] + 2 * p[5] - p[3] + (p[6] ? p[4] - 1 : 0)) / p[4] + 1;
            d.out_w = (p[1] + 2 * p[5] - p[3] + (p[6] ? p[4] - 1 : 0)) / p[4] + 1;
            const size_t in_n = (size_t)p[0] * p[1] * ps, out_n = (size_t)d.out_h * d.out_w * ps;
            uint8_t *in = xalloc(in_n), *out = xalloc(out_n);
            fill_q(type, in, in_n, 0);
            const int32_t zp = rnd_range(ick_qmin(type), ick_qmax(type)), ozp = rnd_range(ick_qmin(type), ick_qmax(type));
            const float ratio = 0.5f + rnd_unit();
            memset(out, 0x5A, out_n);
            int rc1 = ick_maxpool(&d, in, out, 0, d.out_h * d.out_w);
            size_t bad_max = 0, bad_avg = 0;
            for (int32_t oy = 0; oy < d.out_h; oy++)
                for (int32_t ox = 0; ox < d.out_w; ox++)
                    for (int32_t c = 0; c < p[2]; c++) {
                        int32_t mx = ick_qmin(type) - 1;
                        for (int32_t ky = 0; ky < p[3]; ky++)
                            for (int32_t kx = 0; kx < p[3]; kx++) {
                                const int32_t iy = oy * p[4] - p[5] + ky, ix = ox * p[4] - p[5] + kx;
                                if (iy < 0 || ix < 0 || iy >= p[0] || ix >= p[1]) continue;
                                const int32_t v = ick_load_q(type, in, ((size_t)iy * p[1] + ix) * ps + c);
                                if (v > mx) mx = v;
                            }
                        if (ick_load_q(type, out, ((size_t)oy * d.out_w + ox) * ps + c) != mx) bad_max++;
                    }
            size_t gap_bad = 0;
            for (size_t i = 0; i < out_n; i++) if ((int32_t)(i % ps) >= p[2] && out[i] != 0x5A) gap_bad++;
            check(gap_bad == 0, "maxpool leaves bytes outside the channel slice alone");
            int rc2 = ick_avgpool(&d, in, out, zp, ratio, ozp, ick_qmin(type), ick_qmax(type), 0, d.out_h * d.out_w);
            for (int32_t oy = 0; oy < d.out_h; oy++)
                for (int32_t ox = 0; ox < d.out_w; ox++)
                    for (int32_t c = 0; c < p[2]; c++) {
                        double sum = 0; int32_t n = 0, npad = 0;
                        for (int32_t ky = 0; ky < p[3]; ky++)
                            for (int32_t kx = 0; kx < p[3]; kx++) {
                                const int32_t iy = oy * p[4] - p[5] + ky, ix = ox * p[4] - p[5] + kx;
                                if (iy < p[0] + p[5] && ix < p[1] + p[5]) npad++;
                                if (iy < 0 || ix < 0 || iy >= p[0] || ix >= p[1]) continue;
                                sum += ick_load_q(type, in, ((size_t)iy * p[1] + ix) * ps + c) - zp; n++;
                            }
                        const int32_t cnt = p[7] ? npad : n;
                        /* float definition: mean * ratio, rounded half to even */
                        const double want_f = sum * (double)ratio / cnt;
                        const int32_t got = ick_load_q(type, out, ((size_t)oy * d.out_w + ox) * ps + c) - ozp;
                        /* the kernel works in fp32: allow the double result to differ only at a .5 boundary */
                        if (fabs(got - want_f) > 0.5 + 1e-4 && got + ozp > ick_qmin(type) && got + ozp < ick_qmax(type)) bad_avg++;
                    }
            char msg[200];
            snprintf(msg, sizeof msg, "maxpool case %zu %s", s, t ? "s8" : "u8");
            check(rc1 == ICK_OK && bad_max == 0, msg);
            snprintf(msg, sizeof msg, "avgpool case %zu %s (%zu off)", s, t ? "s8" : "u8", bad_avg);
            check(rc2 == ICK_OK && bad_avg == 0, msg);
            free(in); free(out);
        }
    /* global average pool equals avgpool over the whole image */
    uint8_t in[49 * 20], g1[20], g2[20];
    fill_q(ICK_U8, in, sizeof in, 0);
    ick_pool_desc d = {.in_h = 7, .in_w = 7, .channels = 20, .out_h = 1, .out_w = 1, .kernel_h = 7, .kernel_w = 7,
                       .stride_h = 1, .stride_w = 1, .type = ICK_U8};
    ick_avgpool(&d, in, g1, 10, 0.7f, 3, 0, 255, 0, 1);
    int rc = ick_global_avgpool(49, 20, ICK_U8, in, 0, g2, 10, 0.7f, 3, 0, 255);
    check(rc == ICK_OK && memcmp(g1, g2, 20) == 0, "global average pool = 7x7 average pool");
    d.out_h = 9;
    check(ick_pool_check(&d) == ICK_ERR_ARG, "pool output larger than input rejected");
}

/* ---- elementwise ---- */
static void test_elementwise(void) {
    enum { N = 1000 };
    float x[N], y[N];
    uint8_t q[N];
    int8_t qs[N];
    for (int i = 0; i < N; i++) x[i] = (rnd_unit() - 0.5f) * 8.0f;
    x[0] = 0.25f; x[1] = 0.75f; x[2] = -0.25f; x[3] = 1e30f; x[4] = -1e30f; x[5] = NAN; x[6] = 1.25f;
    const float scale = 0.5f;
    ick_quantize_f32(N, x, scale, 100, ICK_U8, q);
    ick_quantize_f32(N, x, scale, -3, ICK_S8, qs);
    size_t bad = 0;
    for (int i = 0; i < N; i++) {
        const float v = x[i] / scale;
        long r = isnan(v) ? -100000 : (v > 1e6f ? 1000000 : v < -1e6f ? -1000000 : lrintf(v));
        long u = r + 100, s = r - 3;
        u = u < 0 ? 0 : u > 255 ? 255 : u;
        s = s < -128 ? -128 : s > 127 ? 127 : s;
        if (q[i] != u || qs[i] != s) bad++;
    }
    check(bad == 0 && q[0] == 100 && q[1] == 102 && q[2] == 100 && q[6] == 102 && q[5] == 0, "quantize f32 (RNE ties, saturation, NaN)");
    ick_dequantize_f32(N, q, ICK_U8, scale, 100, y);
    bad = 0;
    for (int i = 0; i < N; i++) if (y[i] != (float)(q[i] - 100) * scale) bad++;
    check(bad == 0, "dequantize u8");
    ick_dequantize_f32(N, qs, ICK_S8, scale, -3, y);
    bad = 0;
    for (int i = 0; i < N; i++) if (y[i] != (float)(qs[i] + 3) * scale) bad++;
    check(bad == 0, "dequantize s8");
    uint8_t a[N], b[N], o[N];
    fill_q(ICK_U8, a, N, 0); fill_q(ICK_U8, b, N, 0);
    ick_qadd(N, ICK_U8, a, 128, 0.75f, b, 10, 0.5f, o, 7, 7, 255);
    bad = 0;
    for (int i = 0; i < N; i++) {
        const double s = (a[i] - 128) * 0.75 + (b[i] - 10) * 0.5; /* exact in double and in fp32 here */
        long r = lrint(s) + 7;
        r = r < 7 ? 7 : r > 255 ? 255 : r;
        if (o[i] != r) bad++;
    }
    check(bad == 0, "qadd with relu");
}

/* ---- fp32 ---- */
/* NCHW <-> NHWC of one image against the index definition (3-channel bytes have their own loop). */
static void test_layout(void) {
    static const size_t shapes[][2] = {{3, 1}, {3, 257}, {1, 40}, {5, 17}, {16, 33}, {40, 3}, {64, 64}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int es = 1; es <= 4; es += 3)
            for (int to = 0; to < 2; to++) {
                const size_t c = shapes[s][0], p = shapes[s][1], n = c * p * (size_t)es;
                uint8_t *src = xalloc(n), *dst = xalloc(n);
                for (size_t i = 0; i < n; i++) src[i] = (uint8_t)rnd();
                int rc = ick_layout_image(to, c, p, (size_t)es, src, dst);
                size_t bad = 0;
                for (size_t ci = 0; ci < c; ci++)
                    for (size_t pi = 0; pi < p; pi++) {
                        const size_t nchw = (ci * p + pi) * es, nhwc = (pi * c + ci) * es;
                        bad += memcmp(to ? dst + nhwc : dst + nchw, to ? src + nchw : src + nhwc, (size_t)es) != 0;
                    }
                char msg[128];
                snprintf(msg, sizeof msg, "layout %s c=%zu pixels=%zu elem %d: %zu wrong", to ? "to NHWC" : "to NCHW", c, p, es, bad);
                check(rc == ICK_OK && bad == 0, msg);
                free(src); free(dst);
            }
    uint8_t b[8];
    check(ick_layout_image(1, 2, 2, 2, b, b + 4) == ICK_ERR_ARG, "layout of 2-byte elements refused");
}

static void test_fp32(void) {
    const int32_t m = 5, n = 13, k = 37;
    float a[5 * 37], w[13 * 37], bias[13], c[5 * 13];
    for (int i = 0; i < m * k; i++) a[i] = rnd_unit() - 0.5f;
    for (int i = 0; i < n * k; i++) w[i] = rnd_unit() - 0.5f;
    for (int i = 0; i < n; i++) bias[i] = rnd_unit();
    ick_sgemm(m, n, k, a, k, w, k, bias, c, n, 0);
    ick_sgemm(m, n, k, a, k, w, k, NULL, c, n, 1);
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < k; q++) s += (double)a[i * k + q] * w[j * k + q];
            worst = fmax(worst, fabs(c[i * n + j] - (2 * s + bias[j])));
        }
    check(worst < 1e-4, "sgemm (accumulate, bias) within 1e-4");
    float x[200], y[200], z[200];
    for (int i = 0; i < 200; i++) x[i] = (i - 100) * 0.2f;
    ick_sigmoid_f32(200, x, y);
    ick_tanh_f32(200, x, z);
    worst = 0;
    for (int i = 0; i < 200; i++) {
        worst = fmax(worst, fabs(y[i] - 1.0 / (1.0 + exp(-(double)x[i]))));
        worst = fmax(worst, fabs(z[i] - tanh((double)x[i])));
    }
    check(worst < 1e-6, "sigmoid / tanh within 1e-6");
}

/* ICK_ISA selects the variant at the first probe; ick_isa_force switches later. */
static void test_dispatch(void) {
    const char *env = getenv("ICK_ISA");
    if (env && *env) {
        check(strcmp(ick_isa_name(), env) == 0 || !ick_variant_get(ICK_ISA_SCALAR), "ICK_ISA honoured");
        return;
    }
    setenv("ICK_ISA", "scalar", 1);
    check(ick_isa_active() == ICK_ISA_SCALAR && strcmp(ick_isa_name(), "scalar") == 0, "ICK_ISA=scalar honoured");
    unsetenv("ICK_ISA");
    ick_isa best = ICK_ISA_SCALAR;
    for (int i = 0; i < ICK_ISA_COUNT; i++)
        if (ick_isa_supported((ick_isa)i) && i != ICK_ISA_SCALAR && (best == ICK_ISA_SCALAR || i == ICK_ISA_AVX512VNNI || i == ICK_ISA_NEONDOT))
            best = (ick_isa)i;
    check(ick_isa_force(best) == ICK_OK && ick_isa_active() == best, "ick_isa_force to the best variant");
    check(ick_isa_force((ick_isa)ICK_ISA_COUNT) == ICK_ERR_VARIANT, "forcing an unknown variant refused");
}

int main(void) {
    test_dispatch();
    printf("kernels: active variant %s\n", ick_isa_name());
    for (int isa = 0; isa < ICK_ISA_COUNT; isa++) {
        if (ick_variant_get((ick_isa)isa)) { printf("kernels: testing variant %s\n", ick_isa_label((ick_isa)isa)); continue; }
        skipped++;
        printf("kernels: SKIP variant %s: %s\n", ick_isa_label((ick_isa)isa),
               ick_variant__scalar.ukernel && ((const ick_variant *[]){
#define ICK_PTR_(name, NAME) &ick_variant__##name,
                   ICK_ISA_LIST(ICK_PTR_)
#undef ICK_PTR_
               })[isa]->ukernel ? "this CPU lacks the instructions" : "not built for this architecture");
    }
    test_conv();
    test_conv_random(200);
    weights7 = 1; /* again with 7-bit weights: the AVX2 byte format on every non-depthwise layer */
    test_conv();
    test_conv_random(100);
    weights7 = 0;
    test_bytes_edge();
    test_bytes_guard_needed();
    printf("kernels: variants with a byte format packed %d layers as bytes, %d as their own format\n", bytes_layers,
           int16_layers);
    test_conv_errors();
    test_pool();
    test_layout();
    test_elementwise();
    test_fp32();
    printf("kernels: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
