#include "ick_internal.h"
const ick_variant ick_variant__neon = {.isa = ICK_ISA_NEON};
