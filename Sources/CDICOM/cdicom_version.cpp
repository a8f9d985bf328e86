#include "cdicom.h"
#include "dcmtk/dcmdata/dcuid.h"

extern "C" const char *cdicom_dcmtk_version(void) { return OFFIS_DCMTK_VERSION_STRING; }
