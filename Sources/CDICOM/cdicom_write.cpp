// DICOM writer behind cdicom_write.h. Every DCMTK call is checked and turned into a status
// code + message; nothing here throws (DCMTK itself does not use exceptions).
#include "cdicom_write.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcpath.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcvr.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace {

cdicom_write_status fail(cdicom_write_status status, char *error, size_t capacity, const std::string &message) {
    if (error != nullptr && capacity > 0) {
        std::snprintf(error, capacity, "%s", message.c_str());
    }
    return status;
}

// "(gggg,eeee)" -> key. Only numeric tags: names would tie callers to DCMTK's dictionary.
bool parseTag(const std::string &text, DcmTagKey &key) {
    unsigned group = 0, element = 0;
    char tail = 0;
    if (std::sscanf(text.c_str(), " (%4x,%4x)%c", &group, &element, &tail) != 2) return false;
    key.set(static_cast<Uint16>(group), static_cast<Uint16>(element));
    return true;
}

// Finds (creating as needed) the item that holds the leaf of `path`.
cdicom_write_status parentItem(DcmDataset &dataset, const std::string &path, std::string &leaf, DcmItem *&item,
                               std::string &message) {
    const size_t dot = path.rfind('.');
    if (dot == std::string::npos) {
        leaf = path;
        item = &dataset;
        return CDICOM_WRITE_OK;
    }
    leaf = path.substr(dot + 1);
    const std::string parent = path.substr(0, dot);
    DcmPathProcessor processor;
    OFCondition cond = processor.findOrCreatePath(&dataset, parent.c_str(), OFTrue);
    if (cond.bad()) {
        message = "cannot create sequence item " + parent + ": " + cond.text();
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    OFList<DcmPath *> results;
    processor.getResults(results);
    if (results.empty() || results.front()->back() == nullptr) {
        message = "no sequence item at " + parent;
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    DcmObject *object = results.front()->back()->m_obj;
    if (object == nullptr || (object->ident() != EVR_item && object->ident() != EVR_dataset)) {
        message = parent + " does not name a sequence item (end it with [n])";
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    item = static_cast<DcmItem *>(object);
    return CDICOM_WRITE_OK;
}

cdicom_write_status putElement(DcmDataset &dataset, const cdicom_write_element &spec, std::string &message) {
    if (spec.tag == nullptr || spec.value == nullptr) {
        message = "element with a NULL tag or value";
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    std::string leaf;
    DcmItem *item = nullptr;
    cdicom_write_status status = parentItem(dataset, spec.tag, leaf, item, message);
    if (status != CDICOM_WRITE_OK) return status;
    DcmTagKey key;
    if (!parseTag(leaf, key)) {
        message = std::string("bad tag path ") + spec.tag + " (want (gggg,eeee) or (gggg,eeee)[n].(gggg,eeee))";
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    DcmTag tag(key);
    if (spec.vr != nullptr) {
        DcmVR vr(spec.vr);
        if (vr.getEVR() == EVR_UNKNOWN || std::strlen(spec.vr) != 2) {
            message = std::string("unknown VR ") + spec.vr + " for " + spec.tag;
            return CDICOM_WRITE_INVALID_ARGUMENT;
        }
        tag.setVR(vr);
    }
    DcmElement *element = nullptr;
    OFCondition cond = DcmItem::newDicomElementWithVR(element, tag);
    if (cond.bad() || element == nullptr) {
        message = std::string("cannot create ") + spec.tag + ": " + cond.text();
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    cond = element->putString(spec.value);
    if (cond.bad()) {
        delete element;
        message = std::string("value for ") + spec.tag + " refused: " + cond.text();
        return CDICOM_WRITE_BAD_VALUE;
    }
    cond = item->insert(element, OFTrue /* replace */);
    if (cond.bad()) {
        delete element;
        message = std::string("cannot insert ") + spec.tag + ": " + cond.text();
        return CDICOM_WRITE_BAD_VALUE;
    }
    return CDICOM_WRITE_OK;
}

cdicom_write_status putPixels(DcmDataset &dataset, const cdicom_write_pixels &px, std::string &message) {
    if (px.data == nullptr || px.photometric == nullptr) {
        message = "pixel buffer or photometric interpretation is NULL";
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    if ((px.bits_allocated != 8 && px.bits_allocated != 16) || px.bits_stored == 0 ||
        px.bits_stored > px.bits_allocated || px.pixel_representation > 1 ||
        (px.samples_per_pixel != 1 && px.samples_per_pixel != 3) || px.rows == 0 || px.columns == 0) {
        message = "unsupported pixel layout (bits, samples, representation or size)";
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    const size_t count = size_t(px.rows) * px.columns * px.samples_per_pixel;
    if (px.length_bytes != count * (px.bits_allocated / 8)) {
        message = "pixel buffer holds " + std::to_string(px.length_bytes) + " bytes, layout needs " +
                  std::to_string(count * (px.bits_allocated / 8));
        return CDICOM_WRITE_INVALID_ARGUMENT;
    }
    OFCondition cond = EC_Normal;
    auto us = [&](const DcmTagKey &key, Uint16 value) {
        if (cond.good()) cond = dataset.putAndInsertUint16(key, value);
    };
    us(DCM_SamplesPerPixel, px.samples_per_pixel);
    if (cond.good()) cond = dataset.putAndInsertString(DCM_PhotometricInterpretation, px.photometric);
    us(DCM_Rows, px.rows);
    us(DCM_Columns, px.columns);
    us(DCM_BitsAllocated, px.bits_allocated);
    us(DCM_BitsStored, px.bits_stored);
    us(DCM_HighBit, static_cast<Uint16>(px.bits_stored - 1));
    us(DCM_PixelRepresentation, px.pixel_representation);
    if (px.samples_per_pixel == 3) us(DCM_PlanarConfiguration, 0);
    if (cond.good()) {
        if (px.bits_allocated == 16) {
            cond = dataset.putAndInsertUint16Array(DCM_PixelData, static_cast<const Uint16 *>(px.data),
                                                   static_cast<unsigned long>(count));
        } else {
            cond = dataset.putAndInsertUint8Array(DCM_PixelData, static_cast<const Uint8 *>(px.data),
                                                  static_cast<unsigned long>(count));
        }
    }
    if (cond.bad()) {
        message = std::string("cannot store pixel attributes: ") + cond.text();
        return CDICOM_WRITE_BAD_VALUE;
    }
    return CDICOM_WRITE_OK;
}

bool syncFile(const std::string &path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

extern "C" cdicom_write_status cdicom_write_file(const char *path, const cdicom_write_element *elements,
                                                 size_t element_count, const cdicom_write_pixels *pixels,
                                                 unsigned flags, char *error, size_t error_capacity) {
    if (path == nullptr || *path == '\0' || pixels == nullptr || (elements == nullptr && element_count > 0)) {
        return fail(CDICOM_WRITE_INVALID_ARGUMENT, error, error_capacity, "NULL path, elements or pixels");
    }
    DcmFileFormat file;
    DcmDataset &dataset = *file.getDataset();
    std::string message;
    for (size_t i = 0; i < element_count; ++i) {
        const cdicom_write_status status = putElement(dataset, elements[i], message);
        if (status != CDICOM_WRITE_OK) return fail(status, error, error_capacity, message);
    }
    if (!dataset.tagExistsWithValue(DCM_SOPClassUID) || !dataset.tagExistsWithValue(DCM_SOPInstanceUID)) {
        return fail(CDICOM_WRITE_INVALID_ARGUMENT, error, error_capacity,
                    "SOPClassUID (0008,0016) and SOPInstanceUID (0008,0018) are required");
    }
    const cdicom_write_status status = putPixels(dataset, *pixels, message);
    if (status != CDICOM_WRITE_OK) return fail(status, error, error_capacity, message);

    const std::string temp = std::string(path) + ".tmp-" + std::to_string(static_cast<long>(::getpid()));
    OFCondition cond = file.saveFile(temp.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL,
                                     EPD_noChange, 0, 0, EWM_fileformat);
    if (cond.bad()) {
        std::remove(temp.c_str());
        return fail(CDICOM_WRITE_IO, error, error_capacity, "cannot write " + temp + ": " + cond.text());
    }
    if (((flags & CDICOM_WRITE_SYNC) != 0 && !syncFile(temp)) || std::rename(temp.c_str(), path) != 0) {
        std::remove(temp.c_str());
        return fail(CDICOM_WRITE_IO, error, error_capacity, std::string("cannot move file into place at ") + path);
    }
    return CDICOM_WRITE_OK;
}

extern "C" char *cdicom_generate_uid(char *buffer, size_t capacity, const char *root) {
    if (buffer == nullptr || capacity == 0) return buffer;
    char uid[100];
    dcmGenerateUniqueIdentifier(uid, root != nullptr ? root : SITE_INSTANCE_UID_ROOT);
    std::snprintf(buffer, capacity, "%s", uid);
    return buffer;
}
