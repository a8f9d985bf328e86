// Helpers shared by the shim's translation units (not part of the C interface).
#ifndef CDICOM_PRIVATE_H
#define CDICOM_PRIVATE_H
#include "cdicom.h"
#include <string>

namespace cdicom_intake {
// Silences DCMTK logging and registers the decoders, once per process.
void initialize();
// Copies text into a caller's message buffer (NUL-terminated, truncated to fit).
void set_message(char *message, size_t capacity, const std::string &text);
cdicom_status fail(char *message, size_t capacity, cdicom_status status, const std::string &text);
}  // namespace cdicom_intake
#endif
