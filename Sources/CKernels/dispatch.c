#include "ckernels.h"
const char *ick_isa_name(void) { return "scalar"; }
