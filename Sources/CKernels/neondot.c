#include "ick_internal.h"
const ick_variant ick_variant__neondot = {.isa = ICK_ISA_NEONDOT};
