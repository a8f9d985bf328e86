/* Kernel micro-benchmark: single-thread GMAC/s of the active variant on the layers that dominate the networks
 * (ResNet-18 at 256x256, ResNeXt grouped 3x3, MobileNetV2 depthwise) and their share of the machine's int8 peak.
 * The peak is that of the exact formulation each variant uses, measured here from instruction throughput:
 *   AVX2:        16 MAC per vpmaddwd (int16 pairs)  x  vpmaddwd/s measured on independent registers
 *                (also printed: the rate of vpmaddwd+vpaddd pairs, what the micro-kernel's loop must issue)
 *   AVX-512 VNNI: 64 MAC per vpdpbusd (zmm)          x  vpdpbusd/s measured likewise
 *   NEON dotprod: 16 MAC per sdot (q form); NEON: 4 MAC per smlal (by element).
 * Every layer runs twice: with full-range 8-bit weights and with 7-bit weights (|w| <= 64, as
 * quantize_static(reduce_range=True) makes them). On AVX2 the 7-bit ones are packed in the byte format
 * (vpmaddubsw + vpmaddwd(ones) + vpaddd: 32 MAC per 3 uops, exact for such weights), whose bound is
 * 32 MAC x triplets/s, measured the same way; the 8-bit ones take the int16 path (16 MAC per vpmaddwd).
 * Usage: bench_kernels [--isa NAME] [--seconds S] [--only SUBSTRING] */
#define _POSIX_C_SOURCE 200809L
#include "ick_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(ICK_X86)
#include <immintrin.h>
#endif
#if defined(ICK_ARM64)
#include <arm_neon.h>
#endif

/* Thread CPU time, not wall time: the build machine's 2 cores are shared, and a time-sliced core would
 * otherwise look slower than it is. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#if defined(ICK_X86)
/* Core clock: a chain of dependent 1-cycle integer adds. */
static double clock_hz(double seconds) {
    long iters = 0;
    double t0 = now(), t;
    do {
        __asm__ volatile("mov $1000, %%ecx\n xor %%eax, %%eax\n"
                         "1:\n"
#define AD "add %%ecx, %%eax\n add %%ecx, %%eax\n add %%ecx, %%eax\n add %%ecx, %%eax\n"
                         AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD AD
#undef AD
                         "dec %%ecx\n jnz 1b\n" ::: "eax", "ecx", "cc");
        iters += 1000;
        t = now() - t0;
    } while (t < seconds);
    return iters * 100.0 / t;
}

/* 12 independent vpmaddwd + vpaddd chains, the 6x16 micro-kernel's inner loop without its loads. */
static double avx2_madd_per_s(double seconds, double *madd_only) {
    long iters = 0;
    double t0 = now(), t;
    do {
        __asm__ volatile(
            "mov $1000, %%ecx\n"
            "vpxor %%ymm0, %%ymm0, %%ymm0\n"
            "1:\n"
#define MA(i) "vpmaddwd %%ymm14, %%ymm15, %%ymm13\n vpaddd %%ymm13, %%ymm" #i ", %%ymm" #i "\n"
            MA(0) MA(1) MA(2) MA(3) MA(4) MA(5) MA(6) MA(7) MA(8) MA(9) MA(10) MA(11)
#undef MA
            "dec %%ecx\n jnz 1b\n"
            ::: "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
              "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
        iters += 1000;
        t = now() - t0;
    } while (t < seconds);
    long it2 = 0;
    double t1 = now(), u;
    do {
        __asm__ volatile(
            "mov $1000, %%ecx\n"
            "1:\n"
#define MB(i) "vpmaddwd %%ymm14, %%ymm15, %%ymm" #i "\n"
            MB(0) MB(1) MB(2) MB(3) MB(4) MB(5) MB(6) MB(7) MB(8) MB(9) MB(10) MB(11)
#undef MB
            "dec %%ecx\n jnz 1b\n"
            ::: "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
              "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc");
        it2 += 1000;
        u = now() - t1;
    } while (u < seconds);
    *madd_only = it2 * 12.0 / u;
    __asm__ volatile("vzeroupper" ::: "memory");
    return iters * 12.0 / t;
}
/* The two AVX2 formulations of u8 x s8 dot products, as instruction streams (rates per second of one "step"):
 *   ORT/MLAS (saturating): vpmaddubsw (u8 x s8 pairs -> int16, SATURATES) + vpmaddwd(ones) + vpaddd: 32 MAC, 3 uops
 *   ours (exact):          vpmaddwd (int16 x int16 pairs -> int32) + vpaddd:                     16 MAC, 2 uops
 * Register-only streams (12 independent accumulators) give the execution-port bound; the "loop" streams add
 * what a 16-column micro-kernel issues per step (two weight loads per K step, one broadcast load per row):
 * ours 6x16 (12 accumulators, 2 K per step: 192 MAC), ORT-style 5x16 (10 accumulators, 4 K per step: 320 MAC;
 * 6 rows would need 17 registers with the ones vector). */
#define PROBE_LOOP(body, per_iter)                                                                             \
    long iters = 0;                                                                                            \
    double t0 = now(), t;                                                                                      \
    do {                                                                                                       \
        __asm__ volatile("mov $1000, %%ecx\n 1:\n" body "dec %%ecx\n jnz 1b\n"                                \
                         ::"r"(buf) : "ecx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",    \
                           "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory"); \
        iters += 1000;                                                                                         \
        t = now() - t0;                                                                                        \
    } while (t < seconds);                                                                                     \
    __asm__ volatile("vzeroupper" ::: "memory");                                                               \
    return iters * (double)(per_iter) / t;

/* vpmaddubsw + vpmaddwd(ones) + vpaddd triplets on 6 accumulators (ymm0-5), each with its own temporary
 * (ymm6-11), twice per iteration (ymm13 = activations, ymm14 = ones, ymm15 = weights). */
static double probe_triplets(double seconds, const uint8_t *buf) {
#define TR(i, t) "vpmaddubsw %%ymm15, %%ymm13, %%ymm" #t "\n vpmaddwd %%ymm14, %%ymm" #t ", %%ymm" #t "\n vpaddd %%ymm" #t ", %%ymm" #i ", %%ymm" #i "\n"
#define TR6 TR(0, 6) TR(1, 7) TR(2, 8) TR(3, 9) TR(4, 10) TR(5, 11)
    PROBE_LOOP(TR6 TR6, 12)
#undef TR6
#undef TR
}
/* ours, 6x16 step: 2 weight loads, per row 1 broadcast + 2 x (vpmaddwd + vpaddd). Rate = steps/s. */
static double probe_loop_ours(double seconds, const uint8_t *buf) {
#define RO(r, x0, x1) "vpbroadcastd " #r "(%0), %%ymm14\n vpmaddwd %%ymm14, %%ymm12, %%ymm15\n vpaddd %%ymm15, %%ymm" #x0 ", %%ymm" #x0 "\n" \
    "vpmaddwd %%ymm14, %%ymm13, %%ymm15\n vpaddd %%ymm15, %%ymm" #x1 ", %%ymm" #x1 "\n"
    PROBE_LOOP("vmovdqa 64(%0), %%ymm12\n vmovdqa 96(%0), %%ymm13\n" RO(0, 0, 1) RO(4, 2, 3) RO(8, 4, 5) RO(12, 6, 7)
               RO(16, 8, 9) RO(20, 10, 11), 1)
#undef RO
}
/* ORT-style 5x16 step: 2 weight loads, per row 1 broadcast + 2 x (vpmaddubsw + vpmaddwd(ones) + vpaddd). */
static double probe_loop_ort(double seconds, const uint8_t *buf) {
#define RT(r, x0, x1) "vpbroadcastd " #r "(%0), %%ymm12\n"                                                     \
    "vpmaddubsw %%ymm10, %%ymm12, %%ymm13\n vpmaddwd %%ymm14, %%ymm13, %%ymm13\n vpaddd %%ymm13, %%ymm" #x0 ", %%ymm" #x0 "\n" \
    "vpmaddubsw %%ymm11, %%ymm12, %%ymm15\n vpmaddwd %%ymm14, %%ymm15, %%ymm15\n vpaddd %%ymm15, %%ymm" #x1 ", %%ymm" #x1 "\n"
    PROBE_LOOP("vmovdqa 64(%0), %%ymm10\n vmovdqa 96(%0), %%ymm11\n" RT(0, 0, 1) RT(4, 2, 3) RT(8, 4, 5) RT(12, 6, 7)
               RT(16, 8, 9), 1)
#undef RT
}
#undef PROBE_LOOP

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline)) static double vnni_per_s(double seconds) {
    __m512i c[12], x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(5);
    for (int i = 0; i < 12; i++) c[i] = _mm512_set1_epi32(i);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int r = 0; r < 1000; r++) {
            for (int i = 0; i < 12; i++) c[i] = _mm512_dpbusd_epi32(c[i], x, y);
            __asm__ volatile("" : "+v"(x), "+v"(y));
        }
        iters += 1000;
        t = now() - t0;
    } while (t < seconds);
    volatile int sink = _mm_cvtsi128_si32(_mm512_castsi512_si128(c[0]));
    (void)sink;
    return iters * 12.0 / t;
}
#endif
#if defined(ICK_ARM64)
__attribute__((noinline)) static double neon_smlal_per_s(double seconds) {
    int32x4_t c[16];
    int16x8_t x = vdupq_n_s16(3), y = vdupq_n_s16(5);
    for (int i = 0; i < 16; i++) c[i] = vdupq_n_s32(i);
    long iters = 0;
    double t0 = now(), t;
    do {
        for (int r = 0; r < 1000; r++) {
            for (int i = 0; i < 16; i++) c[i] = vmlal_laneq_s16(c[i], vget_low_s16(x), y, 1);
            __asm__ volatile("" : "+w"(x), "+w"(y));
        }
        iters += 1000;
        t = now() - t0;
    } while (t < seconds);
    volatile int sink = vgetq_lane_s32(c[0], 0);
    (void)sink;
    return iters * 16.0 / t;
}
#endif

typedef struct layer {
    const char *name;
    int32_t hw, cin, cout, k, stride, groups, batch;
} layer;

static const layer layers[] = {
    {"resnet18 3x3 64->64 @64x64", 64, 64, 64, 3, 1, 1, 1},
    {"resnet18 3x3 128->128 @32x32", 32, 128, 128, 3, 1, 1, 1},
    {"resnet18 3x3 256->256 @16x16", 16, 256, 256, 3, 1, 1, 1},
    {"resnet18 3x3 512->512 @8x8", 8, 512, 512, 3, 1, 1, 1},
    {"resnet18 3x3 512->512 @8x8 batch 8", 8, 512, 512, 3, 1, 1, 8},
    {"resnet18 3x3 512->512 @8x8 batch 16", 8, 512, 512, 3, 1, 1, 16},
    {"resnet18 3x3 256->256 @16x16 batch 4", 16, 256, 256, 3, 1, 1, 4},
    {"resnet18 3x3 64->128 s2 @64x64", 64, 64, 128, 3, 2, 1, 1},
    {"resnet18 stem 7x7 3->64 s2 @256", 256, 3, 64, 7, 2, 1, 1},
    {"1x1 256->64 @64x64", 64, 256, 64, 1, 1, 1, 1},
    {"1x1 64->256 @64x64", 64, 64, 256, 1, 1, 1, 1},
    {"resnext 3x3 g32 256->256 @64x64", 64, 256, 256, 3, 1, 32, 1},
    {"resnext 3x3 g32 512->512 @32x32", 32, 512, 512, 3, 1, 32, 1},
    {"resnext 3x3 g32 1024->1024 @16x16", 16, 1024, 1024, 3, 1, 32, 1},
    {"resnext 3x3 g32 2048->2048 @8x8", 8, 2048, 2048, 3, 1, 32, 1},
    {"mobilenetv2 stem 3x3 3->32 s2 @256", 256, 3, 32, 3, 2, 1, 1},
    {"mobilenetv2 1x1 16->96 @128x128", 128, 16, 96, 1, 1, 1, 1},
    {"mobilenetv2 1x1 24->144 @64x64", 64, 24, 144, 1, 1, 1, 1},
    {"mobilenetv2 1x1 144->24 @64x64", 64, 144, 24, 1, 1, 1, 1},
    {"mobilenetv2 1x1 320->1280 @8x8", 8, 320, 1280, 1, 1, 1, 1},
    {"mobilenetv2 dw3x3 96 s2 @128x128", 128, 96, 96, 3, 2, 96, 1},
    {"mobilenetv2 dw3x3 192 @32x32", 32, 192, 192, 3, 1, 192, 1},
    {"gemm 40x512 -> 128 (fc)", 40, 512, 128, 1, 1, 1, 1},
};

int main(int argc, char **argv) {
    double seconds = 0.4;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            const char *want = argv[++i];
            int found = 0;
            for (int j = 0; j < ICK_ISA_COUNT; j++)
                if (!strcmp(want, ick_isa_label((ick_isa)j))) found = ick_isa_force((ick_isa)j) == ICK_OK;
            if (!found) { fprintf(stderr, "bench: variant %s not supported here\n", want); return 2; }
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        }
    }
    const ick_isa isa = ick_isa_active();
    double peak = 0, peak_bytes = 0;
    const char *how = "";
#if defined(ICK_X86)
    if (isa == ICK_ISA_AVX2 || isa == ICK_ISA_SCALAR) {
        double madd_only;
        const double pairs = avx2_madd_per_s(seconds, &madd_only);
        peak = 16.0 * madd_only; /* the instruction bound: every 16 exact MACs need one vpmaddwd */
        how = "16 MAC x vpmaddwd/s";
        const double hz = clock_hz(seconds);
        printf("peak probe: clock %.2f GHz; vpmaddwd alone %.2f/cycle, vpmaddwd+vpaddd pairs %.2f/cycle "
               "(pairs bound %.1f GMAC/s)\n", hz * 1e-9, madd_only / hz, pairs / hz, 16.0 * pairs * 1e-9);
        static uint8_t buf[128] __attribute__((aligned(64)));
        for (int i = 0; i < 128; i++) buf[i] = (uint8_t)(i * 7 + 1);
        const double trip = probe_triplets(seconds, buf), lo = probe_loop_ours(seconds, buf), lt = probe_loop_ort(seconds, buf);
        peak_bytes = 32.0 * trip;
        printf("formulations (GMAC/s bound on one core):\n"
               "  exact    vpmaddwd+vpaddd           %.2f pairs/cycle    x 16 MAC = %5.1f | 6x16 loop with loads %.3f steps/cycle x 192 MAC = %5.1f\n"
               "  bytes    vpmaddubsw+vpmaddwd+vpaddd %.2f triplets/cycle x 32 MAC = %5.1f | 5x16 loop with loads %.3f steps/cycle x 320 MAC = %5.1f\n"
               "           (ORT's formulation; saturating in general, exact in our byte format: 7-bit-safe weights)\n",
               pairs / hz, 16.0 * pairs * 1e-9, lo / hz, 192.0 * lo * 1e-9, trip / hz, 32.0 * trip * 1e-9, lt / hz,
               320.0 * lt * 1e-9);
    } else if (isa == ICK_ISA_AVX512VNNI) {
        peak = 64.0 * vnni_per_s(seconds);
        how = "64 MAC x vpdpbusd/s";
    }
#endif
#if defined(ICK_ARM64)
    peak = 4.0 * neon_smlal_per_s(seconds) * (isa == ICK_ISA_NEONDOT ? 4.0 : 1.0);
    how = isa == ICK_ISA_NEONDOT ? "16 MAC x sdot/s (assumed = smlal rate)" : "4 MAC x smlal/s";
#endif
    printf("variant %s, peak %.1f GMAC/s per core (%s)", ick_isa_name(), peak * 1e-9, how);
    if (peak_bytes > 0) printf("; byte format %.1f GMAC/s (32 MAC x vpmaddubsw+vpmaddwd+vpaddd triplets/s)", peak_bytes * 1e-9);
    printf("\n%-38s | %-29s | %-29s | %s\n", "", "8-bit weights", "7-bit weights", "7-bit");
    printf("%-38s | %8s %7s %5s %6s | %8s %7s %5s %6s | %s\n", "layer (1 thread)", "ms", "GMAC/s", "path", "%peak",
           "ms", "GMAC/s", "path", "%peak", "/ 8-bit");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const layer *L = &layers[l];
        if (only && !strstr(L->name, only)) continue;
        const int gemm = L->name[0] == 'g';
        ick_conv_desc d = {.in_h = gemm ? 1 : L->hw, .in_w = L->hw, .in_c = L->cin, .out_c = L->cout,
                           .kernel_h = L->k, .kernel_w = L->k, .stride_h = L->stride, .stride_w = L->stride,
                           .pad_top = L->k / 2, .pad_left = L->k / 2, .pad_bottom = L->k / 2, .pad_right = L->k / 2,
                           .groups = L->groups, .type = ICK_U8, .in_zp = 7, .batch = L->batch};
        const int32_t nb = L->batch ? L->batch : 1;
        const int32_t npix = nb * ick_conv_out_h(&d) * ick_conv_out_w(&d);
        const size_t kk = (size_t)L->k * L->k * L->cin / L->groups;
        const size_t in_n = (size_t)nb * d.in_h * d.in_w * L->cin, w_n = (size_t)L->cout * kk;
        uint8_t *in = aligned_alloc(64, ICK_ROUND_UP(in_n, 64)), *out = aligned_alloc(64, ICK_ROUND_UP((size_t)npix * L->cout, 64));
        int8_t *w = aligned_alloc(64, ICK_ROUND_UP(w_n, 64));
        float *mult = malloc(L->cout * sizeof(float));
        for (size_t i = 0; i < in_n; i++) in[i] = (uint8_t)(i * 37 + 11);
        for (int32_t i = 0; i < L->cout; i++) mult[i] = 1e-4f;
        void *packed = aligned_alloc(64, ICK_ROUND_UP(ick_conv_packed_size(&d), 64));
        void *scratch = aligned_alloc(64, ICK_ROUND_UP(ick_conv_scratch_size(&d), 64));
        ick_requant rq = {.mult = mult, .out_zp = 3, .lo = 0, .hi = 255};
        const double macs = (double)npix * L->cout * kk;
        double gm[2];
        printf("%-38s", L->name);
        for (int bits7 = 0; bits7 < 2; bits7++) {
            for (size_t i = 0; i < w_n; i++)
                w[i] = bits7 ? (int8_t)((int32_t)((i * 53 + 5) % 129) - 64) : (int8_t)(i * 53 + 5);
            if (ick_conv_pack(&d, w, NULL, packed) != ICK_OK) { printf(" pack failed\n"); return 1; }
            const int bytes = ick_conv_packed_bytes(packed) == 1;
            long reps = 0;
            double t0 = now(), t;
            do {
                ick_conv_run(&d, packed, &rq, in, out, 0, npix, scratch);
                reps++;
                t = now() - t0;
            } while (t < seconds);
            gm[bits7] = macs * reps / t * 1e-9;
            const double pk = bytes ? peak_bytes : peak;
            printf(" | %8.3f %7.1f %5s %5.1f%%", t / reps * 1e3, gm[bits7], bytes ? "bytes" : "wide",
                   pk > 0 ? 100.0 * gm[bits7] / (pk * 1e-9) : 0);
        }
        printf(" | %5.2fx\n", gm[1] / gm[0]);
        free(in); free(out); free(w); free(mult); free(packed); free(scratch);
    }
    return 0;
}
