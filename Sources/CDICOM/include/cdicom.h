#ifndef CDICOM_H
#define CDICOM_H
/* Plain-C interface to DCMTK. Nothing above this header sees C++ or DCMTK types. */
#ifdef __cplusplus
extern "C" {
#endif

/* DCMTK version string, e.g. "3.6.7". */
const char *cdicom_dcmtk_version(void);

#ifdef __cplusplus
}
#endif
#endif
