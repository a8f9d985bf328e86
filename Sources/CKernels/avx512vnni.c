#include "ick_internal.h"
const ick_variant ick_variant__avx512vnni = {.isa = ICK_ISA_AVX512VNNI};
