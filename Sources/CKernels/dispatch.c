/* Variant selection: probe the CPU once, honour ICK_ISA, allow tests to force a variant. */
#include "ick_internal.h"
#include <stdlib.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

static const ick_variant *const variants[ICK_ISA_COUNT] = {
#define ICK_TABLE_(name, NAME) [ICK_ISA_##NAME] = &ick_variant__##name,
    ICK_ISA_LIST(ICK_TABLE_)
#undef ICK_TABLE_
};
static const char *const names[ICK_ISA_COUNT] = {
#define ICK_NAME_(name, NAME) [ICK_ISA_##NAME] = #name,
    ICK_ISA_LIST(ICK_NAME_)
#undef ICK_NAME_
};

static int cpu_has(ick_isa isa) {
    switch (isa) {
    case ICK_ISA_SCALAR: return 1;
#if defined(ICK_X86)
    case ICK_ISA_AVX2: return __builtin_cpu_supports("avx2");
    case ICK_ISA_AVX512VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
#endif
#if defined(ICK_ARM64)
    case ICK_ISA_NEON: return 1;
    case ICK_ISA_NEONDOT:
#if defined(__linux__)
        return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
        return 1; /* every Apple arm64 CPU has dotprod */
#else
        return 0;
#endif
#endif
    default: return 0;
    }
}

int ick_isa_supported(ick_isa isa) {
    if ((unsigned)isa >= ICK_ISA_COUNT || !variants[isa]->ukernel) return 0;
    return cpu_has(isa);
}

const char *ick_isa_label(ick_isa isa) { return (unsigned)isa < ICK_ISA_COUNT ? names[isa] : "unknown"; }

const ick_variant *ick_variant_get(ick_isa isa) {
    return ick_isa_supported(isa) ? variants[isa] : NULL;
}

static int active = -1; /* racy first probe is benign: every thread computes the same answer */

static ick_isa probe(void) {
    const char *env = getenv("ICK_ISA");
    if (env && *env) {
        for (int i = 0; i < ICK_ISA_COUNT; i++)
            if (strcmp(env, names[i]) == 0 && ick_isa_supported((ick_isa)i)) return (ick_isa)i;
    }
    static const ick_isa preference[] = {ICK_ISA_AVX512VNNI, ICK_ISA_NEONDOT, ICK_ISA_AVX2, ICK_ISA_NEON};
    for (size_t i = 0; i < sizeof preference / sizeof preference[0]; i++)
        if (ick_isa_supported(preference[i])) return preference[i];
    return ICK_ISA_SCALAR;
}

ick_isa ick_isa_active(void) {
    int a = __atomic_load_n(&active, __ATOMIC_ACQUIRE);
    if (a < 0) {
        a = (int)probe();
        __atomic_store_n(&active, a, __ATOMIC_RELEASE);
    }
    return (ick_isa)a;
}

const char *ick_isa_name(void) { return names[ick_isa_active()]; }

int ick_isa_force(ick_isa isa) {
    if (!ick_isa_supported(isa)) return ICK_ERR_VARIANT;
    __atomic_store_n(&active, (int)isa, __ATOMIC_RELEASE);
    return ICK_OK;
}

const ick_variant *ick_active_variant(void) { return variants[ick_isa_active()]; }

const char *ick_error_text(int code) {
    switch (code) {
    case ICK_OK: return "ok";
    case ICK_ERR_ARG: return "invalid or absurd kernel descriptor or argument";
    case ICK_ERR_VARIANT: return "packed data made by another kernel variant, or variant not supported on this CPU";
    default: return "unknown kernel error";
    }
}
