#ifndef CDICOM_H
#define CDICOM_H
/* Plain-C interface to DCMTK. Nothing above this header sees C++ or DCMTK types.
 *
 * Rules of this interface:
 * - Every function returns a cdicom_status; on failure a human-readable message is copied into
 *   the caller's (message, message_capacity) buffer when one is given (NUL-terminated, truncated
 *   to fit). No C++ exception and no abort ever crosses this boundary.
 * - A cdicom_file is not thread-safe; different handles may be used from different threads.
 * - DCMTK's own console logging is switched off the first time any function here is called.
 * - The write side (cdicom_write.h) is a separate header.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DCMTK version string, e.g. "3.6.7". */
const char *cdicom_dcmtk_version(void);

typedef enum cdicom_status {
    CDICOM_OK = 0,
    CDICOM_ERR_IO = 1,                 /* file cannot be opened or read */
    CDICOM_ERR_NOT_DICOM = 2,          /* empty, not DICOM, or DCMTK cannot parse it */
    CDICOM_ERR_TRUNCATED = 3,          /* an element claims more bytes than the file holds */
    CDICOM_ERR_MISSING_TAG = 4,        /* a required attribute is absent */
    CDICOM_ERR_BAD_VALUE = 5,          /* an attribute has a malformed or inconsistent value */
    CDICOM_ERR_TOO_LARGE = 6,          /* declared image size or nesting beyond the limits */
    CDICOM_ERR_UNSUPPORTED_TRANSFER_SYNTAX = 7, /* e.g. JPEG 2000: no codec, the file is not corrupt */
    CDICOM_ERR_UNSUPPORTED_IMAGE = 8,  /* e.g. colour, more than 16 bits allocated */
    CDICOM_ERR_DECODE = 9,             /* the codec failed on the pixel data */
    CDICOM_ERR_PIXEL_DATA_SHORT = 10,  /* pixel data shorter than Rows x Columns x bytes */
    CDICOM_ERR_INVALID_ARGUMENT = 11,  /* caller error (NULL pointer, wrong buffer size) */
    CDICOM_ERR_NETWORK = 12,           /* C-STORE receiver could not listen or failed */
    CDICOM_ERR_INTERNAL = 13           /* unexpected exception inside DCMTK */
} cdicom_status;

/* A short stable name for a status, e.g. "unsupported transfer syntax". */
const char *cdicom_status_name(cdicom_status status);

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------- */

/* Guards against hostile or broken files. Zero fields mean the defaults. */
typedef struct cdicom_limits {
    uint64_t max_pixels;          /* Rows x Columns x SamplesPerPixel x NumberOfFrames; default 4096*4096 */
    uint32_t max_sequence_depth;  /* nesting of sequences; default 16 */
} cdicom_limits;

typedef struct cdicom_file cdicom_file;

/* Parses a file's header. Pixel data stays on disk until decoded. Before DCMTK sees the bytes the
 * element structure is walked: an element longer than what remains of the file is
 * CDICOM_ERR_TRUNCATED, sequences nested deeper than the limit are CDICOM_ERR_TOO_LARGE. A file
 * without the "DICM" preamble is accepted only if it parses to a dataset with a SOP Class UID. */
cdicom_status cdicom_open(const char *path, const cdicom_limits *limits, cdicom_file **out,
                          char *message, size_t message_capacity);

/* Same from a memory buffer (copied; used by the fuzz target and tests). */
cdicom_status cdicom_open_memory(const void *bytes, size_t size, const cdicom_limits *limits,
                                 cdicom_file **out, char *message, size_t message_capacity);

void cdicom_close(cdicom_file *file);

/* Attribute tags the pipeline reads (group << 16 | element). Any other top-level tag works too. */
#define CDICOM_TAG(g, e) ((uint32_t)(((uint32_t)(g) << 16) | (uint32_t)(e)))
#define CDICOM_TRANSFER_SYNTAX_UID      CDICOM_TAG(0x0002, 0x0010)
#define CDICOM_IMAGE_TYPE               CDICOM_TAG(0x0008, 0x0008)
#define CDICOM_SOP_CLASS_UID            CDICOM_TAG(0x0008, 0x0016)
#define CDICOM_SOP_INSTANCE_UID         CDICOM_TAG(0x0008, 0x0018)
#define CDICOM_STUDY_DATE               CDICOM_TAG(0x0008, 0x0020)
#define CDICOM_STUDY_TIME               CDICOM_TAG(0x0008, 0x0030)
#define CDICOM_ACCESSION_NUMBER         CDICOM_TAG(0x0008, 0x0050)
#define CDICOM_MODALITY                 CDICOM_TAG(0x0008, 0x0060)
#define CDICOM_SERIES_DESCRIPTION       CDICOM_TAG(0x0008, 0x103E)
#define CDICOM_PATIENT_NAME             CDICOM_TAG(0x0010, 0x0010) /* for on-screen initials only; never log */
#define CDICOM_BODY_PART_EXAMINED       CDICOM_TAG(0x0018, 0x0015)
#define CDICOM_SLICE_THICKNESS          CDICOM_TAG(0x0018, 0x0050)
#define CDICOM_GANTRY_DETECTOR_TILT     CDICOM_TAG(0x0018, 0x1120)
#define CDICOM_STUDY_INSTANCE_UID       CDICOM_TAG(0x0020, 0x000D)
#define CDICOM_SERIES_INSTANCE_UID      CDICOM_TAG(0x0020, 0x000E)
#define CDICOM_SERIES_NUMBER            CDICOM_TAG(0x0020, 0x0011)
#define CDICOM_INSTANCE_NUMBER          CDICOM_TAG(0x0020, 0x0013)
#define CDICOM_IMAGE_POSITION_PATIENT   CDICOM_TAG(0x0020, 0x0032)
#define CDICOM_IMAGE_ORIENTATION_PATIENT CDICOM_TAG(0x0020, 0x0037)
#define CDICOM_SAMPLES_PER_PIXEL        CDICOM_TAG(0x0028, 0x0002)
#define CDICOM_PHOTOMETRIC_INTERPRETATION CDICOM_TAG(0x0028, 0x0004)
#define CDICOM_NUMBER_OF_FRAMES         CDICOM_TAG(0x0028, 0x0008)
#define CDICOM_ROWS                     CDICOM_TAG(0x0028, 0x0010)
#define CDICOM_COLUMNS                  CDICOM_TAG(0x0028, 0x0011)
#define CDICOM_PIXEL_SPACING            CDICOM_TAG(0x0028, 0x0030)
#define CDICOM_BITS_ALLOCATED           CDICOM_TAG(0x0028, 0x0100)
#define CDICOM_BITS_STORED              CDICOM_TAG(0x0028, 0x0101)
#define CDICOM_HIGH_BIT                 CDICOM_TAG(0x0028, 0x0102)
#define CDICOM_PIXEL_REPRESENTATION     CDICOM_TAG(0x0028, 0x0103)
#define CDICOM_PIXEL_PADDING_VALUE      CDICOM_TAG(0x0028, 0x0120)
#define CDICOM_RESCALE_INTERCEPT        CDICOM_TAG(0x0028, 0x1052)
#define CDICOM_RESCALE_SLOPE            CDICOM_TAG(0x0028, 0x1053)
#define CDICOM_PIXEL_DATA               CDICOM_TAG(0x7FE0, 0x0010)

/* 1 if the attribute is present at the top level (or in the meta header for group 0002). */
int cdicom_has_tag(const cdicom_file *file, uint32_t tag);

/* Copies the attribute's whole value as text (multiple values joined by '\', trailing padding
 * removed). CDICOM_ERR_MISSING_TAG if absent; an empty value is CDICOM_OK with "". If the buffer
 * is too small the text is truncated and CDICOM_ERR_INVALID_ARGUMENT returned. */
cdicom_status cdicom_get_string(const cdicom_file *file, uint32_t tag, char *buffer, size_t capacity);

/* Numeric values of DS, IS, US, SS, UL, SL, FL, FD attributes: up to max_values are written to
 * values and *count is set to the number written. CDICOM_ERR_MISSING_TAG if absent (or empty),
 * CDICOM_ERR_BAD_VALUE if a value is not a finite number. */
cdicom_status cdicom_get_numbers(const cdicom_file *file, uint32_t tag, double *values,
                                 size_t max_values, size_t *count);

/* Transfer syntax the dataset is encoded in (meta header, or what DCMTK detected). */
cdicom_status cdicom_get_transfer_syntax(const cdicom_file *file, char *buffer, size_t capacity);

/* 1 if cdicom_decode_* can decode this transfer syntax with free DCMTK. */
int cdicom_transfer_syntax_supported(const char *transfer_syntax_uid);

/* Image pixel module, validated: Rows/Columns present, non-zero and within limits; BitsAllocated
 * 8 or 16; BitsStored <= BitsAllocated; HighBit consistent; slope/intercept numeric (defaults 1/0
 * when absent); a PixelData element present. */
typedef struct cdicom_image_info {
    uint32_t rows, columns;
    uint32_t bits_allocated, bits_stored, high_bit;
    uint32_t pixel_representation;   /* 0 unsigned, 1 two's complement */
    uint32_t samples_per_pixel;
    uint32_t number_of_frames;       /* 1 when absent */
    double rescale_slope, rescale_intercept;
    int has_padding_value;
    double padding_value;            /* stored-value space */
    int has_padding_range_limit;
    double padding_range_limit;
    char photometric_interpretation[17];
} cdicom_image_info;

cdicom_status cdicom_get_image_info(const cdicom_file *file, cdicom_image_info *out,
                                    char *message, size_t message_capacity);

/* Decodes the first frame to stored values (masked to BitsStored, sign-extended when
 * PixelRepresentation is 1). count must equal rows*columns. A stored value outside int16 (16-bit
 * unsigned above 32767) is CDICOM_ERR_BAD_VALUE: use cdicom_decode_hu for such images. */
cdicom_status cdicom_decode_int16(cdicom_file *file, int16_t *out, size_t count,
                                  char *message, size_t message_capacity);

typedef struct cdicom_hu_options {
    /* RSNA quirk: when BitsStored == 12, PixelRepresentation == 0 and RescaleIntercept > -100, the
     * values are really signed 12-bit: stored >= 2048 become stored - 4096 before rescaling. */
    int apply_rsna_fix;
    /* HU written for pixels equal to PixelPaddingValue (or inside the padding range). */
    float padding_fill;
} cdicom_hu_options;

typedef struct cdicom_hu_report {
    int rsna_fix_applied;
    uint64_t padded_pixels;
} cdicom_hu_report;

/* Decodes the first frame to Hounsfield units: HU = stored * RescaleSlope + RescaleIntercept, with
 * padding masked and the RSNA fix applied as options say. count must equal rows*columns.
 * report may be NULL. */
cdicom_status cdicom_decode_hu(cdicom_file *file, const cdicom_hu_options *options, float *out,
                               size_t count, cdicom_hu_report *report,
                               char *message, size_t message_capacity);

/* ---------------------------------------------------------------------------------------------
 * C-STORE receiver (storage SCP)
 * ------------------------------------------------------------------------------------------- */

typedef struct cdicom_scp_config {
    const char *ae_title;        /* our AE title, e.g. "ICHTRIAGE" */
    uint16_t port;               /* TCP port to listen on */
    const char *output_directory;/* the drop folder; each object is written as ".incoming-*.part"
                                    and renamed to "<SOPInstanceUID>.dcm" when complete */
    uint32_t poll_seconds;       /* how often the stop flag is checked while idle; 0 = 1 s */
} cdicom_scp_config;

typedef struct cdicom_scp cdicom_scp;
typedef struct cdicom_stop_flag cdicom_stop_flag;

/* A thread-safe flag to make cdicom_scp_run return. */
cdicom_stop_flag *cdicom_stop_flag_create(void);
void cdicom_stop_flag_set(cdicom_stop_flag *flag);
void cdicom_stop_flag_destroy(cdicom_stop_flag *flag);

/* Called after each object has been renamed to its final name (from the thread running
 * cdicom_scp_run). */
typedef void (*cdicom_scp_stored_callback)(void *context, const char *path);

/* Binds the port (so a caller knows the receiver is reachable once this returns). */
cdicom_status cdicom_scp_open(const cdicom_scp_config *config, cdicom_scp **out,
                              char *message, size_t message_capacity);

/* Accepts associations and stores what arrives until stop is set. Blocks. */
cdicom_status cdicom_scp_run(cdicom_scp *scp, const cdicom_stop_flag *stop,
                             cdicom_scp_stored_callback on_stored, void *context,
                             char *message, size_t message_capacity);

void cdicom_scp_close(cdicom_scp *scp);

#ifdef __cplusplus
}
#endif
#endif
