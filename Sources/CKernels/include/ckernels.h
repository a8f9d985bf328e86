#ifndef CKERNELS_H
#define CKERNELS_H
/* int8 inference kernels. Plain C; architecture-specific code lives only in this target. */
#ifdef __cplusplus
extern "C" {
#endif

/* Name of the ISA variant chosen at start ("scalar", "avx2", "avx512vnni", "neon", "neondot"). */
const char *ick_isa_name(void);

#ifdef __cplusplus
}
#endif
#endif
