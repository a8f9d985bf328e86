/* Convolution driver shared by every variant: checks, weight packing, im2col into the variant's activation
 * format, cache blocking over output pixels, and the micro-kernel / requant calls. Only the micro-kernel,
 * the requant row and the depthwise kernel differ between variants. */
#include "ick_internal.h"

#define ICK_PACK_MAGIC 0x4b434931u /* "1ICK" */
#define ICK_MAX_DIM (1 << 20)
#define ICK_MAX_K 65536
#define ICK_A_BLOCK_BYTES (160 * 1024) /* activations block kept in L2 while a weight panel sits in L1 */
#define ICK_A_BLOCK_BYTES_CHUNKED (384 * 1024) /* with K chunks only a chunk of it is hot */
#define ICK_KC 512                  /* K chunk when K is long: a weight panel chunk (<= 16 KiB) stays in L1 */
#define ICK_KC_MIN_K 1024           /* chunk only beyond this K */

typedef struct ick_pack_header {
    uint32_t magic;
    int32_t isa;
    int32_t depthwise;
    int32_t groups, cout_g, k, kp, npanels, nr;
    int32_t bytes; /* 1: packed in the variant's byte format (variant->bytes), 0: its own */
    uint64_t offsets_bytes, panel_bytes, group_bytes;
} ick_pack_header;
_Static_assert(sizeof(ick_pack_header) == ICK_ALIGN, "header is one cache line");

static int in_range(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

int ick_conv_check(const ick_conv_desc *d) {
    if (!d) return ICK_ERR_ARG;
    if (!in_range(d->in_h, 1, ICK_MAX_DIM) || !in_range(d->in_w, 1, ICK_MAX_DIM) ||
        !in_range(d->in_c, 1, ICK_MAX_DIM) || !in_range(d->out_c, 1, ICK_MAX_DIM) ||
        !in_range(d->kernel_h, 1, 1024) || !in_range(d->kernel_w, 1, 1024) || !in_range(d->stride_h, 1, 1024) ||
        !in_range(d->stride_w, 1, 1024) || !in_range(d->pad_top, 0, 1024) || !in_range(d->pad_left, 0, 1024) ||
        !in_range(d->pad_bottom, 0, 1024) || !in_range(d->pad_right, 0, 1024) || !in_range(d->groups, 1, ICK_MAX_DIM))
        return ICK_ERR_ARG;
    if (d->in_c % d->groups || d->out_c % d->groups) return ICK_ERR_ARG;
    if (d->type != ICK_U8 && d->type != ICK_S8) return ICK_ERR_ARG;
    if (!in_range(d->in_zp, ick_qmin(d->type), ick_qmax(d->type))) return ICK_ERR_ARG;
    if ((int64_t)d->kernel_h * d->kernel_w * (d->in_c / d->groups) > ICK_MAX_K) return ICK_ERR_ARG;
    if (d->in_stride && d->in_stride < d->in_c) return ICK_ERR_ARG;
    if (d->out_stride && d->out_stride < d->out_c) return ICK_ERR_ARG;
    if (d->in_stride < 0 || d->out_stride < 0) return ICK_ERR_ARG;
    if (d->in_h + d->pad_top + d->pad_bottom < d->kernel_h || d->in_w + d->pad_left + d->pad_right < d->kernel_w)
        return ICK_ERR_ARG;
    if (d->batch < 0 || d->batch > ICK_MAX_DIM) return ICK_ERR_ARG;
    if ((int64_t)d->in_h * d->in_w * (d->batch ? d->batch : 1) > (int64_t)1 << 30) return ICK_ERR_ARG;
    return ICK_OK;
}

int32_t ick_conv_out_h(const ick_conv_desc *d) { return (d->in_h + d->pad_top + d->pad_bottom - d->kernel_h) / d->stride_h + 1; }
int32_t ick_conv_out_w(const ick_conv_desc *d) { return (d->in_w + d->pad_left + d->pad_right - d->kernel_w) / d->stride_w + 1; }

static int is_depthwise(const ick_conv_desc *d) { return d->groups > 1 && d->groups == d->in_c && d->groups == d->out_c; }

typedef struct layout {
    int32_t depthwise, groups, cin_g, cout_g, k, kp, npanels;
    size_t offsets_bytes, panel_bytes, group_bytes, total;
    int32_t nr;                 /* panel width: the variant's, or half of it for narrow groups */
    ick_gemm_ukernel_fn ukernel;
    size_t gstride;             /* bytes of one group's K values within a packed row */
    size_t row_bytes; int32_t mc; size_t scratch;
    int32_t kc;                 /* K chunk (== kp when K is not chunked) */
    int pointwise;              /* rows packed in one pass, unpadded */
    int32_t band_rows;          /* > 0: im2col from a padded band of this many input rows (few channels) */
    size_t band_bytes;
} layout;

static int plan(const ick_variant *v, const ick_conv_desc *d, layout *L) {
    int rc = ick_conv_check(d);
    if (rc != ICK_OK) return rc;
    if (!v || !v->ukernel) return ICK_ERR_VARIANT;
    memset(L, 0, sizeof *L);
    L->groups = d->groups;
    L->cin_g = d->in_c / d->groups;
    L->cout_g = d->out_c / d->groups;
    L->k = d->kernel_h * d->kernel_w * L->cin_g;
    L->depthwise = is_depthwise(d);
    if (L->depthwise) {
        L->offsets_bytes = ICK_ROUND_UP((size_t)d->out_c * 4, ICK_ALIGN);
        L->panel_bytes = ICK_ROUND_UP((size_t)d->kernel_h * d->kernel_w * d->out_c * 2, ICK_ALIGN);
        L->group_bytes = L->offsets_bytes + L->panel_bytes;
        L->total = sizeof(ick_pack_header) + L->group_bytes;
        /* offsets, a row of zero points, interleaved weight pairs (AVX2 layout, the largest of the variants) */
        L->scratch = ICK_ROUND_UP((size_t)d->out_c * 4, ICK_ALIGN) + ICK_ROUND_UP((size_t)d->out_c, ICK_ALIGN) +
                     (size_t)ICK_ROUND_UP(d->out_c, 16) * ((d->kernel_h * d->kernel_w + 1) / 2) * 4 +
                     (d->kernel_h == 3 && d->kernel_w == 3 ? (size_t)ICK_ROUND_UP(d->out_c, 16) * 6 * 4 : 0);
        return ICK_OK;
    }
    L->kp = ICK_ROUND_UP(L->k, v->kalign);
    const int half = v->ukernel_half && L->cout_g <= v->nr / 2;
    L->nr = half ? v->nr / 2 : v->nr;
    L->ukernel = half ? v->ukernel_half : v->ukernel;
    L->npanels = (L->cout_g + L->nr - 1) / L->nr;
    L->offsets_bytes = ICK_ROUND_UP((size_t)L->npanels * L->nr * 4, ICK_ALIGN);
    L->panel_bytes = ICK_ROUND_UP((size_t)L->kp * L->nr * v->w_bytes, ICK_ALIGN);
    L->group_bytes = L->offsets_bytes + L->panel_bytes * L->npanels;
    L->total = sizeof(ick_pack_header) + L->group_bytes * L->groups;
    const size_t abytes = v->afmt == ICK_AFMT_I16 ? 2 : 1;
    /* one packed row holds every group's K values (im2col of a pixel in one pass) */
    /* 1x1, stride 1, no padding, dense input, K needing no padding: the block's rows are consecutive input pixels,
     * packed unpadded in one conversion pass */
    L->pointwise = d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 && !d->pad_top &&
                   !d->pad_left && !d->pad_bottom && !d->pad_right && L->groups == 1 &&
                   (d->in_stride == 0 || d->in_stride == d->in_c) && L->kp == L->k;
    if (L->pointwise) {
        L->gstride = L->row_bytes = (size_t)L->kp * abytes;
    } else {
        L->gstride = L->groups == 1 ? ICK_ROUND_UP((size_t)L->kp * abytes, ICK_ALIGN) : ICK_ROUND_UP((size_t)L->kp * abytes, 16);
        L->row_bytes = ICK_ROUND_UP(L->gstride * L->groups, ICK_ALIGN);
    }
    L->kc = L->kp > ICK_KC_MIN_K ? ICK_KC : L->kp;
    size_t panels = (L->kc < L->kp ? ICK_A_BLOCK_BYTES_CHUNKED : ICK_A_BLOCK_BYTES) / (L->row_bytes * v->mr);
    if (panels < 1) panels = 1;
    if (panels > 16) panels = 16;
    L->mc = (int32_t)panels * v->mr;
    /* Few input channels (the stem: 3): a kernel row of a pixel is a short run, and converting it with bounds
     * checks per pixel costs more than its products. The block's input rows are converted once into a zero-padded
     * band in the stored format (int16 or bytes, padded with the stored zero point); each kernel row of a pixel is
     * then one short copy. */
    if (!L->pointwise && L->groups == 1 && d->in_c <= 8 && d->kernel_w > 1) {
        const int32_t ow = ick_conv_out_w(d);
        const int64_t rows = (int64_t)((L->mc - 1) / ow + 2) * d->stride_h + d->kernel_h;
        const int64_t bytes = rows * (d->in_w + d->pad_left + d->pad_right) * d->in_c * (v->afmt == ICK_AFMT_I16 ? 2 : 1);
        if (bytes <= 4 * ICK_A_BLOCK_BYTES) {
            L->band_rows = (int32_t)rows;
            L->band_bytes = ICK_ROUND_UP((size_t)bytes, ICK_ALIGN);
        }
    }
    L->scratch = L->row_bytes * L->mc + ICK_ROUND_UP((size_t)ICK_MAX_MR * ICK_MAX_NR * 4, ICK_ALIGN) +
                 (L->kc < L->kp ? ICK_ROUND_UP((size_t)L->mc * L->nr * 4, ICK_ALIGN) : 0) +
                 ICK_ROUND_UP((size_t)d->in_c * 2, ICK_ALIGN) + L->band_bytes;
    return ICK_OK;
}

/* Sizes cover both formats of a variant: which one the packer picks depends on the weights. */
size_t ick_conv_packed_size_v(const ick_variant *v, const ick_conv_desc *d) {
    layout L, B;
    if (plan(v, d, &L) != ICK_OK) return 0;
    return v->bytes && plan(v->bytes, d, &B) == ICK_OK && B.total > L.total ? B.total : L.total;
}
size_t ick_conv_scratch_size_v(const ick_variant *v, const ick_conv_desc *d) {
    layout L, B;
    if (plan(v, d, &L) != ICK_OK) return 0;
    return v->bytes && plan(v->bytes, d, &B) == ICK_OK && B.scratch > L.scratch ? B.scratch : L.scratch;
}

int ick_conv_bytes_exact(const ick_conv_desc *d, const int8_t *weights) {
    if (ick_conv_check(d) != ICK_OK || !weights) return 0;
    const int32_t taps = d->kernel_h * d->kernel_w, cin_g = d->in_c / d->groups, k = taps * cin_g;
    for (int32_t n = 0; n < d->out_c; n++) {
        const int8_t *wn = weights + (size_t)n * k; /* OIHW row: [ci][ky][kx]; im2col index kk = t * cin_g + ci */
        for (int32_t kk = 0; kk < k; kk += 2) {
            const int32_t w0 = wn[(size_t)(kk % cin_g) * taps + kk / cin_g];
            const int32_t w1 = kk + 1 < k ? wn[(size_t)((kk + 1) % cin_g) * taps + (kk + 1) / cin_g] : 0;
            const int32_t pos = (w0 > 0 ? w0 : 0) + (w1 > 0 ? w1 : 0), neg = (w0 < 0 ? w0 : 0) + (w1 < 0 ? w1 : 0);
            if (pos > 128 || neg < -128) return 0;
        }
    }
    return 1;
}

int ick_conv_packed_bytes(const void *packed) {
    const ick_pack_header *h = (const ick_pack_header *)packed;
    if (!h || h->magic != ICK_PACK_MAGIC) return -1;
    return h->bytes;
}

/* Stored activation = a - shift (I16 stores a - zp). The accumulator gets (shift - zp) * sum(w) back. */
static int32_t act_shift(const ick_variant *v, const ick_conv_desc *d) {
    switch (v->afmt) {
    case ICK_AFMT_S8: return d->type == ICK_U8 ? 128 : 0;
    case ICK_AFMT_U8: return d->type == ICK_U8 ? 0 : -128;
    default: return d->in_zp;
    }
}

int ick_conv_pack_v(const ick_variant *v, const ick_conv_desc *d, const int8_t *weights, const int32_t *bias,
                    void *packed) {
    layout L;
    int rc = plan(v, d, &L);
    if (rc != ICK_OK) return rc;
    if (!weights || !packed || ((uintptr_t)packed & (ICK_ALIGN - 1))) return ICK_ERR_ARG;
    const int bytes = v->bytes && !L.depthwise && ick_conv_bytes_exact(d, weights);
    const ick_variant *base_v = v;
    if (bytes) {
        v = v->bytes;
        rc = plan(v, d, &L);
        if (rc != ICK_OK) return rc;
    }
    memset(packed, 0, L.total);
    ick_pack_header *h = (ick_pack_header *)packed;
    h->magic = ICK_PACK_MAGIC;
    h->isa = (int32_t)base_v->isa;
    h->bytes = bytes;
    h->depthwise = L.depthwise;
    h->groups = L.groups; h->cout_g = L.cout_g; h->k = L.k; h->kp = L.kp; h->npanels = L.npanels; h->nr = L.nr;
    h->offsets_bytes = L.offsets_bytes; h->panel_bytes = L.panel_bytes; h->group_bytes = L.group_bytes;
    uint8_t *base = (uint8_t *)packed + sizeof(ick_pack_header);
    const int32_t taps = d->kernel_h * d->kernel_w;
    if (L.depthwise) {
        int32_t *off = (int32_t *)base;
        int16_t *w16 = (int16_t *)(base + L.offsets_bytes);
        for (int32_t c = 0; c < d->out_c; c++) {
            off[c] = bias ? bias[c] : 0;
            for (int32_t t = 0; t < taps; t++) w16[(size_t)t * d->out_c + c] = weights[(size_t)c * taps + t];
        }
        return ICK_OK;
    }
    const int32_t shift_minus_zp = act_shift(v, d) - d->in_zp;
    for (int32_t g = 0; g < L.groups; g++) {
        uint8_t *gb = base + (size_t)g * L.group_bytes;
        int32_t *off = (int32_t *)gb;
        for (int32_t j = 0; j < L.cout_g; j++) {
            const int32_t n = g * L.cout_g + j;
            const int8_t *wn = weights + (size_t)n * L.k; /* OIHW row of output channel n: [ci][ky][kx] */
            uint32_t sum = 0;
            const int32_t p = j / L.nr, c = j % L.nr;
            uint8_t *panel = gb + L.offsets_bytes + (size_t)p * L.panel_bytes;
            for (int32_t ci = 0; ci < L.cin_g; ci++)
                for (int32_t t = 0; t < taps; t++) {
                    const int8_t w = wn[(size_t)ci * taps + t];
                    const int32_t k = t * L.cin_g + ci; /* im2col order: [ky][kx][ci] (NHWC) */
                    const size_t idx = ((size_t)(k / v->kr) * L.nr + c) * v->kr + k % v->kr;
                    if (v->w_bytes == 2) ((int16_t *)panel)[idx] = w;
                    else ((int8_t *)panel)[idx] = w;
                    sum += (uint32_t)w;
                }
            off[j] = (int32_t)((bias ? (uint32_t)bias[n] : 0u) + (uint32_t)shift_minus_zp * sum);
        }
    }
    return ICK_OK;
}

/* Copy n activations into the packed format (a pixel run of one group's channels). */
static void convert_run(const ick_variant *v, ick_qtype t, int32_t zp, const void *src, void *dst, int32_t n) {
    const ick_afmt f = v->afmt;
    if (f == ICK_AFMT_I16 && v->convert_i16 && n >= 16) { v->convert_i16(t, zp, src, (int16_t *)dst, n); return; }
    if (f == ICK_AFMT_I16) {
        int16_t *o = (int16_t *)dst;
        const int16_t z = (int16_t)zp;
        if (t == ICK_U8) { const uint8_t *s = (const uint8_t *)src; for (int32_t i = 0; i < n; i++) o[i] = (int16_t)(s[i] - z); }
        else { const int8_t *s = (const int8_t *)src; for (int32_t i = 0; i < n; i++) o[i] = (int16_t)(s[i] - z); }
        return;
    }
    const int flip = (f == ICK_AFMT_S8) == (t == ICK_U8); /* u8 -> s8 or s8 -> u8: xor 0x80 */
    const uint8_t *s = (const uint8_t *)src;
    uint8_t *o = (uint8_t *)dst;
    if (flip) { for (int32_t i = 0; i < n; i++) o[i] = (uint8_t)(s[i] ^ 0x80u); }
    else memcpy(o, s, (size_t)n);
}

static void fill_pad(ick_afmt f, ick_qtype t, int32_t zp, void *dst, int32_t n) {
    if (f == ICK_AFMT_I16) { memset(dst, 0, (size_t)n * 2); return; }
    const int flip = (f == ICK_AFMT_S8) == (t == ICK_U8);
    memset(dst, (int)((uint8_t)zp ^ (flip ? 0x80u : 0u)), (size_t)n);
}

/* Small inline copy (group slices are 8..128 bytes: a libc call each would dominate). */
static inline void copy_chunk(uint8_t *d, const uint8_t *s, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        memcpy(d + i, &x, 8);
    }
    for (; i < n; i++) d[i] = s[i];
}

/* im2col of a block of pixels of one image from a padded band of its input rows in the stored format
 * (layout.band_rows; padding = the stored zero point: 0 for int16, zp or zp ^ 0x80 for bytes).
 * Returns 0 (nothing done) when the block spans two images. */
static int pack_rows_band(const ick_variant *v, const ick_conv_desc *d, const layout *L, const void *input, int32_t m0,
                          int32_t rows, uint8_t *a, uint8_t *band) {
    int32_t oy0, ox0, oy1, ox1;
    const uint8_t *image = ick_conv_image(d, input, m0, &oy0, &ox0);
    if (ick_conv_image(d, input, m0 + rows - 1, &oy1, &ox1) != image) return 0;
    const int32_t is = d->in_stride ? d->in_stride : d->in_c, C = d->in_c;
    const int32_t pw = d->in_w + d->pad_left + d->pad_right, ow = ick_conv_out_w(d);
    const int32_t iy0 = oy0 * d->stride_h - d->pad_top, nrows = (oy1 - oy0) * d->stride_h + d->kernel_h;
    const size_t esz = v->afmt == ICK_AFMT_I16 ? 2 : 1, px = (size_t)C * esz; /* bytes of one pixel */
    for (int32_t r = 0; r < nrows; r++) {
        uint8_t *dst = band + (size_t)r * pw * px;
        const int32_t iy = iy0 + r;
        if (iy < 0 || iy >= d->in_h) { fill_pad(v->afmt, d->type, d->in_zp, dst, pw * C); continue; }
        fill_pad(v->afmt, d->type, d->in_zp, dst, d->pad_left * C);
        const uint8_t *src = image + (size_t)iy * d->in_w * is;
        if (is == C) convert_run(v, d->type, d->in_zp, src, dst + (size_t)d->pad_left * px, d->in_w * C);
        else
            for (int32_t x = 0; x < d->in_w; x++)
                convert_run(v, d->type, d->in_zp, src + (size_t)x * is, dst + (size_t)(d->pad_left + x) * px, C);
        fill_pad(v->afmt, d->type, d->in_zp, dst + (size_t)(d->pad_left + d->in_w) * px, d->pad_right * C);
    }
    const size_t run = (size_t)d->kernel_w * px;
    /* each row's K padding stays zero: the caller zeroes the block once per call, and nothing writes there */
    for (int32_t i = 0, oy = oy0, ox = ox0; i < rows; i++) {
        uint8_t *row = a + (size_t)i * L->row_bytes;
        const uint8_t *src = band + ((size_t)(oy - oy0) * d->stride_h * pw + (size_t)ox * d->stride_w) * px;
        for (int32_t ky = 0; ky < d->kernel_h; ky++, src += (size_t)pw * px) copy_chunk(row + ky * run, src, run);
        if (++ox == ow) { ox = 0; oy++; }
    }
    return 1;
}

/* im2col of output pixels [m0, m0 + rows), every group: row i, group g starts at a + i * row_bytes + g * gstride. */
static void pack_rows(const ick_variant *v, const ick_conv_desc *d, const layout *L, const void *input, int32_t m0,
                      int32_t rows, int32_t rows_p, uint8_t *a, uint8_t *tmp) {
    const int32_t is = d->in_stride ? d->in_stride : d->in_c;
    const size_t esz = v->afmt == ICK_AFMT_I16 ? 2 : 1;
    const int contiguous = L->groups == 1 && is == d->in_c;
    if (L->pointwise) {
        convert_run(v, d->type, d->in_zp, (const uint8_t *)input + (size_t)m0 * d->in_c, a, rows * L->k);
        if (rows_p > rows) memset(a + (size_t)rows * L->row_bytes, 0, (size_t)(rows_p - rows) * L->row_bytes);
        return;
    }
    /* scratch: ... tmp (in_c int16) | K-chunk partial sums (when chunked) | band */
    uint8_t *band = tmp + ICK_ROUND_UP((size_t)d->in_c * 2, ICK_ALIGN) +
                    (L->kc < L->kp ? ICK_ROUND_UP((size_t)L->mc * L->nr * 4, ICK_ALIGN) : 0);
    if (L->band_rows && pack_rows_band(v, d, L, input, m0, rows, a, band)) {
        if (rows_p > rows) memset(a + (size_t)rows * L->row_bytes, 0, (size_t)(rows_p - rows) * L->row_bytes);
        return;
    }
    const size_t chunk = (size_t)L->cin_g * esz;
    for (int32_t i = 0; i < rows; i++) {
        int32_t oy, ox;
        const uint8_t *image = ick_conv_image(d, input, m0 + i, &oy, &ox);
        uint8_t *row = a + (size_t)i * L->row_bytes;
        size_t tap_off = 0; /* byte offset of the current tap inside each group's K run */
        for (int32_t ky = 0; ky < d->kernel_h; ky++) {
            const int32_t iy = oy * d->stride_h - d->pad_top + ky;
            const int32_t ix0 = ox * d->stride_w - d->pad_left;
            if (contiguous) {
                /* one group, dense pixels: the taps of a kernel row that lie inside the input are one run */
                uint8_t *dst = row + tap_off;
                int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = d->in_w - ix0 < d->kernel_w ? d->in_w - ix0 : d->kernel_w;
                if (iy < 0 || iy >= d->in_h || kx1 <= kx0) kx0 = kx1 = d->kernel_w;
                if (kx0 > 0) fill_pad(v->afmt, d->type, d->in_zp, dst, kx0 * L->cin_g);
                if (kx1 > kx0) {
                    const uint8_t *src = image + ((size_t)iy * d->in_w + ix0 + kx0) * is;
                    convert_run(v, d->type, d->in_zp, src, dst + (size_t)kx0 * chunk, (kx1 - kx0) * L->cin_g);
                }
                if (kx1 < d->kernel_w)
                    fill_pad(v->afmt, d->type, d->in_zp, dst + (size_t)kx1 * chunk, (d->kernel_w - kx1) * L->cin_g);
                tap_off += (size_t)d->kernel_w * chunk;
                continue;
            }
            for (int32_t kx = 0; kx < d->kernel_w; kx++, tap_off += chunk) {
                const int32_t ix = ix0 + kx;
                if (iy >= 0 && iy < d->in_h && ix >= 0 && ix < d->in_w) {
                    const uint8_t *src = image + ((size_t)iy * d->in_w + ix) * is;
                    if (L->groups == 1) { convert_run(v, d->type, d->in_zp, src, row + tap_off, L->cin_g); continue; }
                    if (v->convert_groups_i16 && v->afmt == ICK_AFMT_I16) {
                        v->convert_groups_i16(d->type, d->in_zp, src, (int16_t *)(row + tap_off), L->groups, L->cin_g,
                                              L->gstride / 2);
                        continue;
                    }
                    if (v->afmt == ICK_AFMT_U8 && d->type == ICK_U8) { /* stored as they are: copy the slices */
                        for (int32_t g = 0; g < L->groups; g++) copy_chunk(row + g * L->gstride + tap_off, src + g * chunk, chunk);
                        continue;
                    }
                    /* all channels of the pixel in one vector pass, then each group's slice to its run */
                    convert_run(v, d->type, d->in_zp, src, tmp, d->in_c);
                    for (int32_t g = 0; g < L->groups; g++) copy_chunk(row + g * L->gstride + tap_off, tmp + g * chunk, chunk);
                } else {
                    for (int32_t g = 0; g < L->groups; g++)
                        fill_pad(v->afmt, d->type, d->in_zp, row + g * L->gstride + tap_off, L->cin_g);
                }
            }
        }
        if (L->gstride > tap_off)
            for (int32_t g = 0; g < L->groups; g++) memset(row + g * L->gstride + tap_off, 0, L->gstride - tap_off);
        if (L->row_bytes > L->groups * L->gstride)
            memset(row + L->groups * L->gstride, 0, L->row_bytes - L->groups * L->gstride);
    }
    if (rows_p > rows) memset(a + (size_t)rows * L->row_bytes, 0, (size_t)(rows_p - rows) * L->row_bytes);
}

int ick_conv_run_v(const ick_variant *v, const ick_conv_desc *d, const void *packed, const ick_requant *rq,
                   const void *input, void *output, int32_t m_begin, int32_t m_end, void *scratch) {
    layout L;
    int rc = plan(v, d, &L);
    if (rc != ICK_OK) return rc;
    const ick_pack_header *h = (const ick_pack_header *)packed;
    if (!packed || !rq || !rq->mult || !input || !output || !scratch) return ICK_ERR_ARG;
    if (((uintptr_t)packed | (uintptr_t)scratch) & (ICK_ALIGN - 1)) return ICK_ERR_ARG; /* aligned vector loads */
    if (h->magic == ICK_PACK_MAGIC && h->isa == (int32_t)v->isa && h->bytes) { /* the format the packer chose */
        if (!v->bytes) return ICK_ERR_VARIANT;
        v = v->bytes;
        if ((rc = plan(v, d, &L)) != ICK_OK) return rc;
    }
    if (h->magic != ICK_PACK_MAGIC || h->isa != (int32_t)v->isa || h->depthwise != L.depthwise ||
        h->groups != L.groups || h->k != L.k || h->cout_g != L.cout_g || h->nr != L.nr)
        return ICK_ERR_VARIANT;
    const int32_t npix = ick_conv_pixels(d);
    if (m_begin < 0) m_begin = 0;
    if (m_end > npix) m_end = npix;
    if (m_begin >= m_end) return ICK_OK;
    const uint8_t *base = (const uint8_t *)packed + sizeof(ick_pack_header);
    if (L.depthwise) {
        v->dwconv(d, (const int16_t *)(base + L.offsets_bytes), (const int32_t *)base, rq, input, output, m_begin,
                  m_end, (int32_t *)scratch);
        return ICK_OK;
    }
    const int32_t os = d->out_stride ? d->out_stride : d->out_c;
    const int32_t rs = rq->residual_stride ? rq->residual_stride : d->out_c;
    uint8_t *a = (uint8_t *)scratch;
    int32_t *acc = (int32_t *)(a + L.row_bytes * L.mc);
    uint8_t *tmp = (uint8_t *)acc + ICK_ROUND_UP((size_t)ICK_MAX_MR * ICK_MAX_NR * 4, ICK_ALIGN);
    int32_t *part = (int32_t *)(tmp + ICK_ROUND_UP((size_t)d->in_c * 2, ICK_ALIGN)); /* K-chunk partial sums */
    const int32_t mr = v->mr, nr = L.nr;
    const int chunked = L.kc < L.kp;
    const size_t abytes = v->afmt == ICK_AFMT_I16 ? 2 : 1;
    if (L.band_rows) memset(a, 0, L.row_bytes * L.mc); /* K padding of the band im2col rows (see pack_rows_band) */
    for (int32_t m0 = m_begin; m0 < m_end; m0 += L.mc) {
        const int32_t rows = m_end - m0 < L.mc ? m_end - m0 : L.mc;
        const int32_t rows_p = ICK_ROUND_UP(rows, mr);
        pack_rows(v, d, &L, input, m0, rows, rows_p, a, tmp);
        for (int32_t g = 0; g < L.groups; g++) {
            const uint8_t *gb = base + (size_t)g * L.group_bytes;
            const uint8_t *ag = a + (size_t)g * L.gstride;
            const int32_t *off = (const int32_t *)gb;
            for (int32_t p = 0; p < L.npanels; p++) {
                const void *panel = gb + L.offsets_bytes + (size_t)p * L.panel_bytes;
                const int32_t n0 = g * L.cout_g + p * nr;
                const int32_t nvalid = L.cout_g - p * nr < nr ? L.cout_g - p * nr : nr;
                if (chunked) /* long K: each weight chunk serves every row panel of the block from L1 */
                    for (int32_t k0 = 0; k0 < L.kp; k0 += L.kc) {
                        const int32_t kl = L.kp - k0 < L.kc ? L.kp - k0 : L.kc;
                        const uint8_t *wchunk = (const uint8_t *)panel + (size_t)k0 * nr * v->w_bytes;
                        for (int32_t r0 = 0; r0 < rows; r0 += mr) {
                            L.ukernel(kl, ag + (size_t)r0 * L.row_bytes + (size_t)k0 * abytes, L.row_bytes, wchunk, acc);
                            int32_t *pt = part + (size_t)r0 * nr;
                            if (k0 == 0) memcpy(pt, acc, (size_t)mr * nr * 4);
                            else
                                for (int32_t i = 0; i < mr * nr; i++) pt[i] = (int32_t)((uint32_t)pt[i] + (uint32_t)acc[i]);
                        }
                    }
                const int fused = !chunked && v->ukernel_fused && L.ukernel == v->ukernel && nvalid == nr;
                for (int32_t r0 = 0; r0 < rows; r0 += mr) {
                    if (fused && rows - r0 >= mr) {
                        const size_t m = (size_t)(m0 + r0);
                        v->ukernel_fused(L.kp, ag + (size_t)r0 * L.row_bytes, L.row_bytes, panel, off + p * nr,
                                         rq->mult + n0, rq, d->type,
                                         rq->residual ? (const uint8_t *)rq->residual + m * rs + n0 : NULL, (size_t)rs,
                                         (uint8_t *)output + m * os + n0, (size_t)os);
                        continue;
                    }
                    const int32_t *tile = acc;
                    int32_t tile_stride = nr;
                    if (chunked) tile = part + (size_t)r0 * nr;
                    else if (v->ukernel_tail_half && L.ukernel == v->ukernel && nvalid <= nr / 2) {
                        v->ukernel_tail_half(L.kp, ag + (size_t)r0 * L.row_bytes, L.row_bytes, panel, acc);
                        tile_stride = nr / 2;
                    } else L.ukernel(L.kp, ag + (size_t)r0 * L.row_bytes, L.row_bytes, panel, acc);
                    const int32_t rv = rows - r0 < mr ? rows - r0 : mr;
                    if (v->requant_tile) {
                        const size_t m = (size_t)(m0 + r0);
                        v->requant_tile(rv, nvalid, tile, tile_stride, off + p * nr, rq->mult + n0, rq, d->type,
                                        rq->residual ? (const uint8_t *)rq->residual + m * rs + n0 : NULL, (size_t)rs,
                                        (uint8_t *)output + m * os + n0, (size_t)os);
                        continue;
                    }
                    for (int32_t r = 0; r < rv; r++) {
                        const size_t m = (size_t)(m0 + r0 + r);
                        const void *res = rq->residual ? (const uint8_t *)rq->residual + m * rs + n0 : NULL;
                        v->requant_row(nvalid, tile + r * tile_stride, off + p * nr, rq->mult + n0, rq, d->type, res,
                                       (uint8_t *)output + m * os + n0);
                    }
                }
            }
        }
    }
    return ICK_OK;
}

/* ---- public entry points: the active variant ---- */
size_t ick_conv_packed_size(const ick_conv_desc *d) { return ick_conv_packed_size_v(ick_active_variant(), d); }
int ick_conv_pack(const ick_conv_desc *d, const int8_t *w, const int32_t *bias, void *packed) {
    return ick_conv_pack_v(ick_active_variant(), d, w, bias, packed);
}
size_t ick_conv_scratch_size(const ick_conv_desc *d) { return ick_conv_scratch_size_v(ick_active_variant(), d); }
int ick_conv_run(const ick_conv_desc *d, const void *packed, const ick_requant *rq, const void *input, void *output,
                 int32_t m_begin, int32_t m_end, void *scratch) {
    return ick_conv_run_v(ick_active_variant(), d, packed, rq, input, output, m_begin, m_end, scratch);
}
