// libFuzzer target for the header + decode path of the DCMTK shim (Sources/CDICOM/cdicom_read.cpp):
// structure walk, DCMTK parse, every tag the intake reads, image-info validation, int16 and HU
// decode through DCMTK's codecs. Built by Tests/Fuzz/fuzz.mk with the Swift toolchain's clang.
#include "cdicom.h"

#include <cstdint>
#include <cstdlib>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // Smaller image limit than the appliance's so one input cannot spend seconds decoding.
    cdicom_limits limits{256ull * 256ull, 16};
    cdicom_file *file = nullptr;
    char message[256];
    if (cdicom_open_memory(data, size, &limits, &file, message, sizeof message) != CDICOM_OK) return 0;

    static const uint32_t tags[] = {
        CDICOM_TRANSFER_SYNTAX_UID, CDICOM_IMAGE_TYPE, CDICOM_SOP_CLASS_UID, CDICOM_SOP_INSTANCE_UID,
        CDICOM_STUDY_DATE, CDICOM_STUDY_TIME, CDICOM_ACCESSION_NUMBER, CDICOM_MODALITY,
        CDICOM_SERIES_DESCRIPTION, CDICOM_PATIENT_NAME, CDICOM_BODY_PART_EXAMINED, CDICOM_SLICE_THICKNESS,
        CDICOM_GANTRY_DETECTOR_TILT, CDICOM_STUDY_INSTANCE_UID, CDICOM_SERIES_INSTANCE_UID,
        CDICOM_INSTANCE_NUMBER, CDICOM_IMAGE_POSITION_PATIENT, CDICOM_IMAGE_ORIENTATION_PATIENT,
        CDICOM_PIXEL_SPACING, CDICOM_RESCALE_SLOPE, CDICOM_RESCALE_INTERCEPT, CDICOM_PIXEL_PADDING_VALUE,
    };
    char text[1024];
    double numbers[16];
    size_t count = 0;
    for (uint32_t tag : tags) {
        (void)cdicom_has_tag(file, tag);
        (void)cdicom_get_string(file, tag, text, sizeof text);
        (void)cdicom_get_numbers(file, tag, numbers, 16, &count);
    }
    (void)cdicom_get_transfer_syntax(file, text, sizeof text);

    cdicom_image_info info;
    if (cdicom_get_image_info(file, &info, message, sizeof message) == CDICOM_OK) {
        const size_t n = size_t(info.rows) * info.columns;
        std::vector<float> hu(n);
        cdicom_hu_options options{1, -1024.0f};
        cdicom_hu_report report;
        if (cdicom_decode_hu(file, &options, hu.data(), n, &report, message, sizeof message) == CDICOM_OK) {
            std::vector<int16_t> stored(n);
            (void)cdicom_decode_int16(file, stored.data(), n, message, sizeof message);
        }
    }
    cdicom_close(file);
    return 0;
}
