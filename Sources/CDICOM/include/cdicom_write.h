#ifndef CDICOM_WRITE_H
#define CDICOM_WRITE_H
/* Plain-C DICOM writer over DCMTK.
 *
 * One call writes one complete Part-10 file (Explicit VR Little Endian) from a list of
 * tag/value pairs and a pixel buffer. The same call serves CT images (16-bit grey, the
 * synthetic generator) and Secondary Captures (8-bit RGB, the triage pipeline's report):
 * the caller names every attribute, this layer only encodes.
 *
 * Errors come back as a code plus a message in a caller-owned buffer; no C++ exception
 * crosses this boundary. Files are written to a temporary name in the same folder and
 * renamed into place, so a reader never sees half a file; with CDICOM_WRITE_SYNC the data
 * is also flushed to disk (fsync) before the rename, for records that must survive a power cut.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cdicom_write_status {
    CDICOM_WRITE_OK = 0,
    CDICOM_WRITE_INVALID_ARGUMENT = 1, /* a NULL pointer, a bad tag path, sizes that do not add up */
    CDICOM_WRITE_BAD_VALUE = 2,        /* DCMTK refused a value for its VR */
    CDICOM_WRITE_IO = 3                /* could not write, flush or rename the file */
} cdicom_write_status;

/* One attribute. `tag` is a DCMTK path: "(0010,0010)" for a top-level attribute, or
 * "(0008,1115)[0].(0020,000D)" for an attribute inside item 0 of a sequence (items and
 * sequences are created as needed). `vr` is a two-letter VR ("SS", "US", ...) or NULL for
 * the dictionary's VR (needed for tags whose VR depends on PixelRepresentation, such as
 * PixelPaddingValue). `value` is the DICOM string form; multiple values separated by '\'.
 * An empty string writes an empty (type 2) attribute. */
typedef struct cdicom_write_element {
    const char *tag;
    const char *vr;
    const char *value;
} cdicom_write_element;

/* The pixel buffer and the attributes that describe its layout (this layer writes Rows,
 * Columns, SamplesPerPixel, PhotometricInterpretation, BitsAllocated, BitsStored, HighBit,
 * PixelRepresentation and, for colour, PlanarConfiguration 0 itself).
 * bits_allocated 16: `data` holds rows*columns*samples 16-bit values in host order
 * (signed or unsigned per pixel_representation); bits_allocated 8: bytes, colour
 * interleaved R,G,B per pixel. */
typedef struct cdicom_write_pixels {
    const void *data;
    size_t length_bytes;
    uint16_t rows;
    uint16_t columns;
    uint16_t samples_per_pixel;     /* 1 or 3 */
    uint16_t bits_allocated;        /* 8 or 16 */
    uint16_t bits_stored;           /* <= bits_allocated */
    uint16_t pixel_representation;  /* 0 unsigned, 1 two's complement */
    const char *photometric;        /* "MONOCHROME2", "RGB", ... */
} cdicom_write_pixels;

/* Flags for cdicom_write_file. */
#define CDICOM_WRITE_SYNC 1u

/* Writes `path`. The element list must include SOPClassUID (0008,0016) and
 * SOPInstanceUID (0008,0018); the file meta information is derived from them.
 * `error` (may be NULL) receives a NUL-terminated message on failure. */
cdicom_write_status cdicom_write_file(const char *path,
                                      const cdicom_write_element *elements, size_t element_count,
                                      const cdicom_write_pixels *pixels, unsigned flags,
                                      char *error, size_t error_capacity);

/* A new globally unique UID (DCMTK's dcmGenerateUniqueIdentifier under `root`, or under
 * DCMTK's site root when `root` is NULL). `buffer` needs 65 bytes. Returns buffer. */
char *cdicom_generate_uid(char *buffer, size_t capacity, const char *root);

/* Well-known SOP class UIDs, so callers need no UID tables of their own. */
#define CDICOM_SOP_CLASS_CT_IMAGE "1.2.840.10008.5.1.4.1.1.2"
#define CDICOM_SOP_CLASS_SECONDARY_CAPTURE "1.2.840.10008.5.1.4.1.1.7"

#ifdef __cplusplus
}
#endif
#endif
