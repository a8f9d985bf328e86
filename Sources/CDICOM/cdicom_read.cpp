// Reading side of the DCMTK shim: open, tags, image info, pixel decode.
// Every extern "C" entry point catches everything: nothing may unwind into Swift.
#include "cdicom.h"
#include "cdicom_private.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmdata/dcxfer.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <fcntl.h>
#include <zlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

struct cdicom_file {
    DcmFileFormat format;
    int memory_fd = -1;                 // memfd backing cdicom_open_memory (DCMTK loads lazily from it)
    uint64_t source_size = 0;           // bytes of the file or buffer
    cdicom_limits limits{};
    ~cdicom_file() {
        if (memory_fd >= 0) ::close(memory_fd);
    }
};

namespace cdicom_intake {

void initialize() {
    static std::once_flag once;
    std::call_once(once, [] {
        // DCMTK logs warnings to stderr by default; the service's journal must not see them.
        OFLog::configure(OFLogger::OFF_LOG_LEVEL);
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
        DcmRLEDecoderRegistration::registerCodecs();
    });
}

void set_message(char *message, size_t capacity, const std::string &text) {
    if (message == nullptr || capacity == 0) return;
    size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
}

cdicom_status fail(char *message, size_t capacity, cdicom_status status, const std::string &text) {
    set_message(message, capacity, text);
    return status;
}

}  // namespace cdicom_intake

using cdicom_intake::fail;

namespace {

constexpr uint64_t kDefaultMaxPixels = 4096ull * 4096ull;
constexpr uint32_t kDefaultMaxDepth = 16;

cdicom_limits effective_limits(const cdicom_limits *limits) {
    cdicom_limits l{};
    if (limits) l = *limits;
    if (l.max_pixels == 0) l.max_pixels = kDefaultMaxPixels;
    if (l.max_sequence_depth == 0) l.max_sequence_depth = kDefaultMaxDepth;
    return l;
}

std::string tag_text(uint16_t g, uint16_t e) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "(%04X,%04X)", g, e);
    return buf;
}

// ---- Structure walk ---------------------------------------------------------------------------
// DCMTK parses sequences recursively and trusts declared lengths. Before handing it bytes we walk
// the element headers once: a declared length beyond the end of the data is a truncated file (or
// a memory bomb), and sequence nesting beyond the limit would exhaust the stack. A structure the
// walker cannot follow is refused; only deflated data (inflated by DCMTK itself) is not walked.

struct WalkResult {
    cdicom_status status = CDICOM_OK;
    std::string message;
    std::string transfer_syntax;  // from the meta header, when there is one
};

// DCMTK reads a 2-byte length only for the standard short VRs; any other VR, known or not, gets
// 2 reserved bytes and a 4-byte length. The walker must split elements exactly as DCMTK will.
bool is_long_vr(const unsigned char *vr) {
    static const char *const shorts[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO",
                                         "LT", "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"};
    for (const char *s : shorts)
        if (vr[0] == (unsigned char)s[0] && vr[1] == (unsigned char)s[1]) return false;
    return true;
}

bool is_vr_letters(const unsigned char *vr) {
    return vr[0] >= 'A' && vr[0] <= 'Z' && vr[1] >= 'A' && vr[1] <= 'Z';
}

class Walker {
  public:
    Walker(const unsigned char *data, uint64_t size, uint32_t max_depth, uint64_t inflate_cap = 0)
        : d_(data), n_(size), max_depth_(max_depth), inflate_cap_(inflate_cap) {}

    WalkResult run() {
        uint64_t pos = 0;
        bool explicit_vr = true, big = false;
        std::string ts;
        if (n_ >= 132 && std::memcmp(d_ + 128, "DICM", 4) == 0) {
            pos = 132;
            // Meta header: always explicit VR little endian, group 0002.
            while (pos + 8 <= n_) {
                uint16_t g = rd16(pos, false);
                if (g != 0x0002) break;
                uint16_t e = rd16(pos + 2, false);
                uint64_t len, hdr;
                if (!is_vr_letters(d_ + pos + 4)) return malformed(pos, "meta header element without a VR");
                if (is_long_vr(d_ + pos + 4)) {
                    if (pos + 12 > n_) return truncated(g, e, 12, n_ - pos);
                    len = rd32(pos + 8, false);
                    hdr = 12;
                } else {
                    len = rd16(pos + 6, false);
                    hdr = 8;
                }
                if (len == 0xFFFFFFFFull) return malformed(pos, "meta header element of undefined length");
                if (pos + hdr + len > n_) return truncated(g, e, len, n_ - pos - hdr);
                if (e == 0x0010) {
                    ts.assign(reinterpret_cast<const char *>(d_ + pos + hdr), len);
                    while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' ')) ts.pop_back();
                }
                pos += hdr + len;
            }
            if (ts == UID_LittleEndianImplicitTransferSyntax) explicit_vr = false;
            else if (ts == UID_BigEndianExplicitTransferSyntax) big = true;
            else if (ts == UID_DeflatedExplicitVRLittleEndianTransferSyntax) {
                WalkResult r = walk_deflated(pos);
                r.transfer_syntax = ts;
                return r;
            }
        } else {
            if (n_ < 8) return ok();
            explicit_vr = is_vr_letters(d_ + 4);
        }
        WalkResult r = walk(pos, explicit_vr, big);
        r.transfer_syntax = ts;
        return r;
    }

  private:
    // Deflated datasets are inflated (up to a cap: a zip bomb is refused) and walked like any other.
    WalkResult walk_deflated(uint64_t pos) {
        std::vector<unsigned char> out;
        z_stream z{};
        if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return malformed(pos, "cannot start inflating");
        z.next_in = const_cast<unsigned char *>(d_ + pos);
        z.avail_in = uInt(n_ - pos);
        unsigned char chunk[65536];
        int rc = Z_OK;
        while (rc == Z_OK) {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            rc = inflate(&z, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END) break;
            out.insert(out.end(), chunk, chunk + (sizeof chunk - z.avail_out));
            if (out.size() > inflate_cap_) {
                inflateEnd(&z);
                WalkResult r;
                r.status = CDICOM_ERR_TOO_LARGE;
                r.message = "deflated dataset inflates to more than " + std::to_string(inflate_cap_) + " bytes";
                return r;
            }
            if (z.avail_in == 0 && rc == Z_OK && z.avail_out != 0) break;  // input ended early
        }
        inflateEnd(&z);
        if (rc != Z_STREAM_END) return malformed(pos, "deflated data is corrupt or truncated");
        Walker inner(out.data(), out.size(), max_depth_);
        return inner.walk(0, true, false);
    }

    struct Frame {
        uint64_t end;        // UINT64_MAX for undefined length
        bool sequence;       // sequence (true) or item (false)
        bool explicit_vr;    // encoding inside this frame
    };

    WalkResult walk(uint64_t pos, bool explicit_vr, bool big) {
        std::vector<Frame> stack;
        const bool top_explicit = explicit_vr;
        size_t depth = 0;  // sequences open
        while (true) {
            while (!stack.empty() && stack.back().end != UINT64_MAX && pos >= stack.back().end) {
                if (stack.back().sequence) --depth;
                stack.pop_back();
            }
            explicit_vr = stack.empty() ? top_explicit : stack.back().explicit_vr;
            if (pos == n_) return ok();
            if (pos + 8 > n_) return truncated(0, 0, 8, n_ - pos);
            uint16_t g = rd16(pos, big), e = rd16(pos + 2, big);
            if (g == 0xFFFE) {
                uint64_t len = rd32(pos + 4, big);
                pos += 8;
                if (e == 0xE000) {  // item
                    if (len != 0xFFFFFFFFull && pos + len > n_) return truncated(g, e, len, n_ - pos);
                    stack.push_back({len == 0xFFFFFFFFull ? UINT64_MAX : pos + len, false, explicit_vr});
                } else if (e == 0xE00D) {  // item delimiter
                    while (!stack.empty() && stack.back().sequence == false && stack.back().end != UINT64_MAX) stack.pop_back();
                    if (!stack.empty() && !stack.back().sequence) stack.pop_back();
                } else if (e == 0xE0DD) {  // sequence delimiter
                    while (!stack.empty() && !stack.back().sequence) stack.pop_back();
                    if (!stack.empty()) { stack.pop_back(); --depth; }
                } else {
                    return malformed(pos - 8, "unexpected item tag");
                }
                continue;
            }
            uint64_t len, hdr;
            bool sq = false, un_undefined = false;
            if (explicit_vr) {
                const unsigned char *vr = d_ + pos + 4;
                if (!is_vr_letters(vr)) return malformed(pos, "element without a valid VR");
                if (is_long_vr(vr)) {
                    if (pos + 12 > n_) return truncated(g, e, 12, n_ - pos);
                    len = rd32(pos + 8, big);
                    hdr = 12;
                } else {
                    len = rd16(pos + 6, big);
                    hdr = 8;
                }
                sq = vr[0] == 'S' && vr[1] == 'Q';
                un_undefined = vr[0] == 'U' && vr[1] == 'N' && len == 0xFFFFFFFFull;
            } else {
                len = rd32(pos + 4, big);
                hdr = 8;
                sq = DcmTag(g, e).getEVR() == EVR_SQ || (len == 0xFFFFFFFFull && !(g == 0x7FE0 && e == 0x0010));
            }
            pos += hdr;
            if (len == 0xFFFFFFFFull && !sq && !un_undefined) {
                // Encapsulated pixel data (or another undefined-length OB): flat fragments, no nesting.
                while (true) {
                    if (pos + 8 > n_) return truncated(g, e, 8, n_ - pos);
                    uint16_t ig = rd16(pos, big), ie = rd16(pos + 2, big);
                    uint64_t ilen = rd32(pos + 4, big);
                    pos += 8;
                    if (ig != 0xFFFE) return malformed(pos - 8, "encapsulated data without item tags");
                    if (ie == 0xE0DD) break;
                    if (ie != 0xE000 || ilen == 0xFFFFFFFFull) return malformed(pos - 8, "bad fragment in encapsulated data");
                    if (pos + ilen > n_) return truncated(g, e, ilen, n_ - pos);
                    pos += ilen;
                }
                continue;
            }
            if (sq || un_undefined) {
                if (len != 0xFFFFFFFFull && pos + len > n_) return truncated(g, e, len, n_ - pos);
                ++depth;
                if (depth > max_depth_) {
                    WalkResult r;
                    r.status = CDICOM_ERR_TOO_LARGE;
                    r.message = "sequences nested deeper than " + std::to_string(max_depth_) +
                                " levels at " + tag_text(g, e);
                    return r;
                }
                // Undefined-length UN holds implicit VR little endian (PS3.5 6.2.2).
                stack.push_back({len == 0xFFFFFFFFull ? UINT64_MAX : pos + len, true,
                                 un_undefined ? false : explicit_vr});
                continue;
            }
            if (pos + len > n_) return truncated(g, e, len, n_ - pos);
            pos += len;
        }
    }

    uint16_t rd16(uint64_t p, bool big) const {
        return big ? uint16_t(d_[p] << 8 | d_[p + 1]) : uint16_t(d_[p] | d_[p + 1] << 8);
    }
    uint32_t rd32(uint64_t p, bool big) const {
        return big ? (uint32_t(d_[p]) << 24 | uint32_t(d_[p + 1]) << 16 | uint32_t(d_[p + 2]) << 8 | d_[p + 3])
                   : (uint32_t(d_[p]) | uint32_t(d_[p + 1]) << 8 | uint32_t(d_[p + 2]) << 16 | uint32_t(d_[p + 3]) << 24);
    }
    static WalkResult ok() { return WalkResult(); }
    // Structures DCMTK might read some other way (and then trust a bogus length): refuse them.
    static WalkResult malformed(uint64_t at, const char *what) {
        WalkResult r;
        r.status = CDICOM_ERR_NOT_DICOM;
        r.message = std::string("malformed DICOM: ") + what + " at byte " + std::to_string(at);
        return r;
    }
    static WalkResult truncated(uint16_t g, uint16_t e, uint64_t want, uint64_t have) {
        WalkResult r;
        r.status = CDICOM_ERR_TRUNCATED;
        r.message = "truncated: element " + tag_text(g, e) + " declares " + std::to_string(want) +
                    " bytes but only " + std::to_string(have) + " remain";
        return r;
    }

    const unsigned char *d_;
    uint64_t n_;
    uint32_t max_depth_;
    uint64_t inflate_cap_;
};

bool supported_syntax(const std::string &uid);

// After DCMTK parsed the bytes: reject things that are not DICOM at all.
cdicom_status check_parsed(cdicom_file *f, bool has_preamble, char *message, size_t cap) {
    DcmDataset *ds = f->format.getDataset();
    if (ds == nullptr) return fail(message, cap, CDICOM_ERR_NOT_DICOM, "not a DICOM file: no dataset");
    if (!has_preamble && !ds->tagExists(DCM_SOPClassUID))
        return fail(message, cap, CDICOM_ERR_NOT_DICOM,
                    "not a DICOM file: no DICM preamble and no SOP Class UID");
    return CDICOM_OK;
}

cdicom_status open_bytes(const unsigned char *bytes, uint64_t size, cdicom_file *f, const char *path,
                         char *message, size_t cap) {
    if (size == 0) return fail(message, cap, CDICOM_ERR_NOT_DICOM, "not a DICOM file: empty file");
    const bool has_preamble = size >= 132 && std::memcmp(bytes + 128, "DICM", 4) == 0;
    // A deflated dataset may inflate to the largest image allowed (2 bytes a pixel) plus headers.
    WalkResult w = Walker(bytes, size, f->limits.max_sequence_depth, f->limits.max_pixels * 2 + (1u << 20)).run();
    if (w.status != CDICOM_OK && !has_preamble)
        return fail(message, cap, CDICOM_ERR_NOT_DICOM, "not a DICOM file: no DICM preamble and " + w.message);
    if (w.status != CDICOM_OK) return fail(message, cap, w.status, w.message);
    // Always through a file stream: DCMTK then checks every element length against the bytes that
    // remain (a memory buffer stream would allocate whatever length a header declares) and loads
    // elements above 4 KiB (pixel data) lazily, when decoded.
    OFCondition cond = f->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect);
    if (cond.bad()) {
        // A syntax we have no codec for is reported as such, not as corrupt.
        const std::string &ts = w.transfer_syntax;
        if (!ts.empty() && !supported_syntax(ts) && DcmXfer(ts.c_str()).getXfer() != EXS_Unknown)
            return fail(message, cap, CDICOM_ERR_UNSUPPORTED_TRANSFER_SYNTAX,
                        "unsupported transfer syntax " + ts + " (" + cond.text() + ")");
        return fail(message, cap, CDICOM_ERR_NOT_DICOM, std::string("not a readable DICOM file: ") + cond.text());
    }
    return check_parsed(f, has_preamble, message, cap);
}

DcmElement *find_element(const cdicom_file *file, uint32_t tag) {
    DcmTagKey key(uint16_t(tag >> 16), uint16_t(tag & 0xFFFF));
    DcmElement *el = nullptr;
    DcmFileFormat &ff = const_cast<DcmFileFormat &>(file->format);
    if (key.getGroup() == 0x0002) {
        DcmMetaInfo *meta = ff.getMetaInfo();
        if (meta && meta->findAndGetElement(key, el).good()) return el;
        return nullptr;
    }
    DcmDataset *ds = ff.getDataset();
    if (ds && ds->findAndGetElement(key, el, OFFalse /* top level only */).good()) return el;
    return nullptr;
}

bool parse_number(const std::string &text, double &out) {
    size_t b = 0, e = text.size();
    while (b < e && (text[b] == ' ' || text[b] == '\0')) ++b;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\0')) --e;
    if (b == e) return false;
    std::string t = text.substr(b, e - b);
    char *end = nullptr;
    errno = 0;
    double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return false;
    out = v;
    return true;
}

cdicom_status numbers(const cdicom_file *file, uint32_t tag, std::vector<double> &out) {
    out.clear();
    DcmElement *el = find_element(file, tag);
    if (el == nullptr || el->getLength() == 0) return CDICOM_ERR_MISSING_TAG;
    const unsigned long vm = el->getVM();
    switch (el->ident()) {
    case EVR_US: for (unsigned long i = 0; i < vm; ++i) { Uint16 v; if (el->getUint16(v, i).bad()) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    case EVR_SS: for (unsigned long i = 0; i < vm; ++i) { Sint16 v; if (el->getSint16(v, i).bad()) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    case EVR_UL: for (unsigned long i = 0; i < vm; ++i) { Uint32 v; if (el->getUint32(v, i).bad()) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    case EVR_SL: for (unsigned long i = 0; i < vm; ++i) { Sint32 v; if (el->getSint32(v, i).bad()) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    case EVR_FL: for (unsigned long i = 0; i < vm; ++i) { Float32 v; if (el->getFloat32(v, i).bad() || !std::isfinite(v)) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    case EVR_FD: for (unsigned long i = 0; i < vm; ++i) { Float64 v; if (el->getFloat64(v, i).bad() || !std::isfinite(v)) return CDICOM_ERR_BAD_VALUE; out.push_back(v); } break;
    default: {
        // DS, IS, and anything else stored as text (e.g. a private tag read as UN is not numeric).
        if (el->ident() != EVR_DS && el->ident() != EVR_IS) return CDICOM_ERR_BAD_VALUE;
        OFString all;
        if (el->getOFStringArray(all).bad()) return CDICOM_ERR_BAD_VALUE;
        std::string s(all.c_str(), all.length());
        size_t start = 0;
        while (true) {
            size_t bs = s.find('\\', start);
            double v;
            if (!parse_number(s.substr(start, bs == std::string::npos ? std::string::npos : bs - start), v))
                return CDICOM_ERR_BAD_VALUE;
            out.push_back(v);
            if (bs == std::string::npos) break;
            start = bs + 1;
        }
    }
    }
    return out.empty() ? CDICOM_ERR_MISSING_TAG : CDICOM_OK;
}

// One optional numeric attribute: absent is fine (default), present but malformed is an error.
cdicom_status optional_number(const cdicom_file *f, uint32_t tag, const char *name, double fallback,
                              double &out, char *message, size_t cap) {
    std::vector<double> v;
    cdicom_status s = numbers(f, tag, v);
    if (s == CDICOM_ERR_MISSING_TAG) { out = fallback; return CDICOM_OK; }
    if (s != CDICOM_OK) return fail(message, cap, CDICOM_ERR_BAD_VALUE, std::string(name) + " is not a number");
    out = v[0];
    return CDICOM_OK;
}

cdicom_status required_count(const cdicom_file *f, uint32_t tag, const char *name, double &out,
                             char *message, size_t cap) {
    std::vector<double> v;
    cdicom_status s = numbers(f, tag, v);
    if (s == CDICOM_ERR_MISSING_TAG) return fail(message, cap, CDICOM_ERR_MISSING_TAG, std::string("missing ") + name);
    if (s != CDICOM_OK) return fail(message, cap, CDICOM_ERR_BAD_VALUE, std::string(name) + " is not a number");
    out = v[0];
    return CDICOM_OK;
}

std::string transfer_syntax(const cdicom_file *f) {
    OFString ts;
    DcmMetaInfo *meta = const_cast<DcmFileFormat &>(f->format).getMetaInfo();
    if (meta && meta->findAndGetOFString(DCM_TransferSyntaxUID, ts).good() && !ts.empty())
        return std::string(ts.c_str());
    DcmXfer x(const_cast<DcmFileFormat &>(f->format).getDataset()->getOriginalXfer());
    return x.getXferID();
}

bool supported_syntax(const std::string &uid) {
    static const char *const ok[] = {
        UID_LittleEndianImplicitTransferSyntax, UID_LittleEndianExplicitTransferSyntax,
        UID_BigEndianExplicitTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
        UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax,
        UID_JPEGProcess14TransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
        UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax,
        UID_RLELosslessTransferSyntax,
    };
    for (const char *u : ok)
        if (uid == u) return true;
    return false;
}

cdicom_status image_info(const cdicom_file *f, cdicom_image_info &info, char *message, size_t cap) {
    std::memset(&info, 0, sizeof info);
    double rows, cols, v;
    cdicom_status s;
    if ((s = required_count(f, CDICOM_ROWS, "Rows", rows, message, cap)) != CDICOM_OK) return s;
    if ((s = required_count(f, CDICOM_COLUMNS, "Columns", cols, message, cap)) != CDICOM_OK) return s;
    if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535)
        return fail(message, cap, CDICOM_ERR_BAD_VALUE, "Rows/Columns out of range");
    info.rows = uint32_t(rows);
    info.columns = uint32_t(cols);
    if ((s = required_count(f, CDICOM_BITS_ALLOCATED, "BitsAllocated", v, message, cap)) != CDICOM_OK) return s;
    info.bits_allocated = uint32_t(v);
    if ((s = optional_number(f, CDICOM_BITS_STORED, "BitsStored", info.bits_allocated, v, message, cap)) != CDICOM_OK) return s;
    info.bits_stored = uint32_t(v);
    if ((s = optional_number(f, CDICOM_HIGH_BIT, "HighBit", info.bits_stored - 1.0, v, message, cap)) != CDICOM_OK) return s;
    info.high_bit = uint32_t(v);
    if ((s = optional_number(f, CDICOM_PIXEL_REPRESENTATION, "PixelRepresentation", 0, v, message, cap)) != CDICOM_OK) return s;
    info.pixel_representation = v != 0 ? 1 : 0;
    if ((s = optional_number(f, CDICOM_SAMPLES_PER_PIXEL, "SamplesPerPixel", 1, v, message, cap)) != CDICOM_OK) return s;
    if (v < 1 || v > 4) return fail(message, cap, CDICOM_ERR_BAD_VALUE, "SamplesPerPixel out of range");
    info.samples_per_pixel = uint32_t(v);
    if ((s = optional_number(f, CDICOM_NUMBER_OF_FRAMES, "NumberOfFrames", 1, v, message, cap)) != CDICOM_OK) return s;
    if (v < 1 || v > 1e6) return fail(message, cap, CDICOM_ERR_BAD_VALUE, "NumberOfFrames out of range");
    info.number_of_frames = uint32_t(v);
    const double pixels = double(info.rows) * info.columns * info.samples_per_pixel * info.number_of_frames;
    if (pixels > double(f->limits.max_pixels))
        return fail(message, cap, CDICOM_ERR_TOO_LARGE,
                    "declared image of " + std::to_string(info.rows) + "x" + std::to_string(info.columns) + "x" +
                        std::to_string(info.samples_per_pixel) + "x" + std::to_string(info.number_of_frames) +
                        " pixels exceeds the limit of " + std::to_string(f->limits.max_pixels));
    if (info.bits_allocated != 8 && info.bits_allocated != 16)
        return fail(message, cap, CDICOM_ERR_UNSUPPORTED_IMAGE,
                    "BitsAllocated " + std::to_string(info.bits_allocated) + " is not supported (8 or 16)");
    if (info.bits_stored < 1 || info.bits_stored > info.bits_allocated || info.high_bit >= info.bits_allocated ||
        info.high_bit + 1 < info.bits_stored)
        return fail(message, cap, CDICOM_ERR_BAD_VALUE, "BitsStored/HighBit inconsistent with BitsAllocated");
    if ((s = optional_number(f, CDICOM_RESCALE_SLOPE, "RescaleSlope", 1, info.rescale_slope, message, cap)) != CDICOM_OK) return s;
    if ((s = optional_number(f, CDICOM_RESCALE_INTERCEPT, "RescaleIntercept", 0, info.rescale_intercept, message, cap)) != CDICOM_OK) return s;
    if (info.rescale_slope == 0) return fail(message, cap, CDICOM_ERR_BAD_VALUE, "RescaleSlope is zero");
    std::vector<double> pv;
    s = numbers(f, CDICOM_PIXEL_PADDING_VALUE, pv);
    if (s == CDICOM_OK) { info.has_padding_value = 1; info.padding_value = pv[0]; }
    else if (s != CDICOM_ERR_MISSING_TAG) return fail(message, cap, CDICOM_ERR_BAD_VALUE, "PixelPaddingValue is not a number");
    s = numbers(f, CDICOM_TAG(0x0028, 0x0121), pv);
    if (s == CDICOM_OK) { info.has_padding_range_limit = 1; info.padding_range_limit = pv[0]; }
    OFString pi;
    DcmElement *el = find_element(f, CDICOM_PHOTOMETRIC_INTERPRETATION);
    if (el && el->getOFString(pi, 0).good()) cdicom_intake::set_message(info.photometric_interpretation, sizeof info.photometric_interpretation, pi.c_str());
    DcmElement *pixel_el = find_element(f, CDICOM_PIXEL_DATA);
    if (pixel_el == nullptr) return fail(message, cap, CDICOM_ERR_MISSING_TAG, "missing PixelData");
    // Native pixel data: its declared length must cover one frame (checked without loading it).
    DcmXfer xfer(const_cast<DcmFileFormat &>(f->format).getDataset()->getOriginalXfer());
    const uint64_t frame_bytes = uint64_t(info.rows) * info.columns * info.samples_per_pixel * (info.bits_allocated / 8);
    if (!xfer.isEncapsulated() && uint64_t(pixel_el->getLength()) < frame_bytes)
        return fail(message, cap, CDICOM_ERR_PIXEL_DATA_SHORT,
                    "PixelData holds " + std::to_string(pixel_el->getLength()) + " bytes but " + std::to_string(info.rows) +
                        "x" + std::to_string(info.columns) + "x" + std::to_string(info.bits_allocated) +
                        " bits need " + std::to_string(frame_bytes));
    return CDICOM_OK;
}

// Decodes frame 0 to stored values as int32 (masked, sign-extended).
cdicom_status decode_stored(cdicom_file *f, const cdicom_image_info &info, std::vector<int32_t> &out,
                            char *message, size_t cap) {
    if (info.samples_per_pixel != 1)
        return fail(message, cap, CDICOM_ERR_UNSUPPORTED_IMAGE, "only single-sample (greyscale) images are decoded");
    const std::string ts = transfer_syntax(f);
    if (!supported_syntax(ts))
        return fail(message, cap, CDICOM_ERR_UNSUPPORTED_TRANSFER_SYNTAX, "unsupported transfer syntax " + ts);
    DcmDataset *ds = f->format.getDataset();
    DcmElement *el = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || el == nullptr)
        return fail(message, cap, CDICOM_ERR_MISSING_TAG, "missing PixelData");
    const uint64_t bytes_per = info.bits_allocated / 8;
    const uint64_t frame_bytes = uint64_t(info.rows) * info.columns * bytes_per;
    DcmXfer xfer(ds->getOriginalXfer());
    if (!xfer.isEncapsulated() && xfer.getStreamCompression() == ESC_none) {
        // Native data is loaded lazily: check the declared length before DCMTK allocates it.
        if (uint64_t(el->getLength()) > f->source_size + 16)
            return fail(message, cap, CDICOM_ERR_TRUNCATED, "PixelData length exceeds the file size");
    }
    OFCondition cond = ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    if (cond.bad() || !ds->canWriteXfer(EXS_LittleEndianExplicit))
        return fail(message, cap, CDICOM_ERR_DECODE,
                    std::string("cannot decode pixel data (") + ts + "): " + (cond.bad() ? cond.text() : "no codec"));
    if (ds->findAndGetElement(DCM_PixelData, el).bad() || el == nullptr)
        return fail(message, cap, CDICOM_ERR_MISSING_TAG, "missing PixelData");
    const uint64_t length = el->getLength();
    if (length < frame_bytes)
        return fail(message, cap, CDICOM_ERR_PIXEL_DATA_SHORT,
                    "PixelData holds " + std::to_string(length) + " bytes but " + std::to_string(info.rows) + "x" +
                        std::to_string(info.columns) + "x" + std::to_string(info.bits_allocated) + " bits need " +
                        std::to_string(frame_bytes));
    const size_t n = size_t(info.rows) * info.columns;
    out.resize(n);
    const uint32_t shift = info.high_bit + 1 - info.bits_stored;
    const uint32_t mask = info.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << info.bits_stored) - 1u);
    const uint32_t sign = 1u << (info.bits_stored - 1);
    auto convert = [&](uint32_t raw) -> int32_t {
        uint32_t v = (raw >> shift) & mask;
        if (info.pixel_representation == 1 && (v & sign)) return int32_t(v) - int32_t(mask) - 1;
        return int32_t(v);
    };
    if (info.bits_allocated == 16) {
        Uint16 *words = nullptr;
        if (el->getUint16Array(words).bad() || words == nullptr)
            return fail(message, cap, CDICOM_ERR_DECODE, "cannot access 16-bit pixel data");
        for (size_t i = 0; i < n; ++i) out[i] = convert(words[i]);
    } else {
        Uint8 *b = nullptr;
        if (el->getUint8Array(b).bad() || b == nullptr)
            return fail(message, cap, CDICOM_ERR_DECODE, "cannot access 8-bit pixel data");
        for (size_t i = 0; i < n; ++i) out[i] = convert(b[i]);
    }
    return CDICOM_OK;
}

template <typename Body>
cdicom_status guarded(char *message, size_t cap, Body body) {
    try {
        cdicom_intake::initialize();
        return body();
    } catch (const std::bad_alloc &) {
        return fail(message, cap, CDICOM_ERR_TOO_LARGE, "out of memory");
    } catch (const std::exception &e) {
        return fail(message, cap, CDICOM_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(message, cap, CDICOM_ERR_INTERNAL, "internal error");
    }
}

}  // namespace

extern "C" {

const char *cdicom_status_name(cdicom_status s) {
    switch (s) {
    case CDICOM_OK: return "ok";
    case CDICOM_ERR_IO: return "i/o error";
    case CDICOM_ERR_NOT_DICOM: return "not DICOM";
    case CDICOM_ERR_TRUNCATED: return "truncated";
    case CDICOM_ERR_MISSING_TAG: return "missing attribute";
    case CDICOM_ERR_BAD_VALUE: return "bad value";
    case CDICOM_ERR_TOO_LARGE: return "too large";
    case CDICOM_ERR_UNSUPPORTED_TRANSFER_SYNTAX: return "unsupported transfer syntax";
    case CDICOM_ERR_UNSUPPORTED_IMAGE: return "unsupported image";
    case CDICOM_ERR_DECODE: return "decode error";
    case CDICOM_ERR_PIXEL_DATA_SHORT: return "pixel data too short";
    case CDICOM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case CDICOM_ERR_NETWORK: return "network error";
    case CDICOM_ERR_INTERNAL: return "internal error";
    }
    return "unknown";
}

cdicom_status cdicom_open(const char *path, const cdicom_limits *limits, cdicom_file **out, char *message,
                          size_t cap) {
    if (path == nullptr || out == nullptr) return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    return guarded(message, cap, [&]() -> cdicom_status {
        int fd = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail(message, cap, CDICOM_ERR_IO, std::string("cannot open: ") + std::strerror(errno));
        struct stat st;
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            return fail(message, cap, CDICOM_ERR_IO, "not a regular file");
        }
        const uint64_t size = uint64_t(st.st_size);
        void *map = nullptr;
        if (size > 0) {
            map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (map == MAP_FAILED) {
                ::close(fd);
                return fail(message, cap, CDICOM_ERR_IO, std::string("cannot map: ") + std::strerror(errno));
            }
        }
        ::close(fd);
        auto *f = new cdicom_file();
        f->limits = effective_limits(limits);
        f->source_size = size;
        cdicom_status s = open_bytes(static_cast<const unsigned char *>(map), size, f, path, message, cap);
        if (map) ::munmap(map, size);
        if (s != CDICOM_OK) { delete f; return s; }
        *out = f;
        return CDICOM_OK;
    });
}

cdicom_status cdicom_open_memory(const void *bytes, size_t size, const cdicom_limits *limits, cdicom_file **out,
                                 char *message, size_t cap) {
    if ((bytes == nullptr && size > 0) || out == nullptr)
        return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    return guarded(message, cap, [&]() -> cdicom_status {
        auto *f = new cdicom_file();
        f->limits = effective_limits(limits);
        f->source_size = size;
        f->memory_fd = ::memfd_create("cdicom", MFD_CLOEXEC);
        const unsigned char *p = static_cast<const unsigned char *>(bytes);
        size_t done = 0;
        while (f->memory_fd >= 0 && done < size) {
            ssize_t w = ::write(f->memory_fd, p + done, size - done);
            if (w <= 0) break;
            done += size_t(w);
        }
        if (f->memory_fd < 0 || done != size) {
            delete f;
            return fail(message, cap, CDICOM_ERR_IO, "cannot stage the buffer in memory");
        }
        const std::string path = "/proc/self/fd/" + std::to_string(f->memory_fd);
        cdicom_status s = open_bytes(p, size, f, path.c_str(), message, cap);
        if (s != CDICOM_OK) { delete f; return s; }
        *out = f;
        return CDICOM_OK;
    });
}

void cdicom_close(cdicom_file *file) {
    try { delete file; } catch (...) {}
}

int cdicom_has_tag(const cdicom_file *file, uint32_t tag) {
    if (file == nullptr) return 0;
    try { return find_element(file, tag) != nullptr ? 1 : 0; } catch (...) { return 0; }
}

cdicom_status cdicom_get_string(const cdicom_file *file, uint32_t tag, char *buffer, size_t capacity) {
    if (file == nullptr || buffer == nullptr || capacity == 0) return CDICOM_ERR_INVALID_ARGUMENT;
    return guarded(nullptr, 0, [&]() -> cdicom_status {
        buffer[0] = '\0';
        DcmElement *el = find_element(file, tag);
        if (el == nullptr) return CDICOM_ERR_MISSING_TAG;
        if (el->ident() == EVR_SQ || el->ident() == EVR_OB || el->ident() == EVR_OW || el->ident() == EVR_UN)
            return CDICOM_ERR_BAD_VALUE;
        OFString value;
        if (el->getLength() > 0 && el->getOFStringArray(value).bad()) return CDICOM_ERR_BAD_VALUE;
        std::string v(value.c_str(), value.length());
        while (!v.empty() && (v.back() == ' ' || v.back() == '\0')) v.pop_back();
        cdicom_intake::set_message(buffer, capacity, v);
        return v.size() < capacity ? CDICOM_OK : CDICOM_ERR_INVALID_ARGUMENT;
    });
}

cdicom_status cdicom_get_numbers(const cdicom_file *file, uint32_t tag, double *values, size_t max_values,
                                 size_t *count) {
    if (file == nullptr || count == nullptr || (values == nullptr && max_values > 0)) return CDICOM_ERR_INVALID_ARGUMENT;
    *count = 0;
    return guarded(nullptr, 0, [&]() -> cdicom_status {
        std::vector<double> v;
        cdicom_status s = numbers(file, tag, v);
        if (s != CDICOM_OK) return s;
        size_t n = v.size() < max_values ? v.size() : max_values;
        for (size_t i = 0; i < n; ++i) values[i] = v[i];
        *count = n;
        return CDICOM_OK;
    });
}

cdicom_status cdicom_get_transfer_syntax(const cdicom_file *file, char *buffer, size_t capacity) {
    if (file == nullptr || buffer == nullptr || capacity == 0) return CDICOM_ERR_INVALID_ARGUMENT;
    return guarded(nullptr, 0, [&]() -> cdicom_status {
        std::string ts = transfer_syntax(file);
        cdicom_intake::set_message(buffer, capacity, ts);
        return ts.size() < capacity ? CDICOM_OK : CDICOM_ERR_INVALID_ARGUMENT;
    });
}

int cdicom_transfer_syntax_supported(const char *uid) {
    return uid != nullptr && supported_syntax(uid) ? 1 : 0;
}

cdicom_status cdicom_get_image_info(const cdicom_file *file, cdicom_image_info *out, char *message, size_t cap) {
    if (file == nullptr || out == nullptr) return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    return guarded(message, cap, [&] { return image_info(file, *out, message, cap); });
}

cdicom_status cdicom_decode_int16(cdicom_file *file, int16_t *out, size_t count, char *message, size_t cap) {
    if (file == nullptr || out == nullptr) return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    return guarded(message, cap, [&]() -> cdicom_status {
        cdicom_image_info info;
        cdicom_status s = image_info(file, info, message, cap);
        if (s != CDICOM_OK) return s;
        if (count != size_t(info.rows) * info.columns)
            return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "buffer size is not rows*columns");
        std::vector<int32_t> v;
        if ((s = decode_stored(file, info, v, message, cap)) != CDICOM_OK) return s;
        for (size_t i = 0; i < count; ++i) {
            if (v[i] < INT16_MIN || v[i] > INT16_MAX)
                return fail(message, cap, CDICOM_ERR_BAD_VALUE, "stored value " + std::to_string(v[i]) + " does not fit int16");
            out[i] = int16_t(v[i]);
        }
        return CDICOM_OK;
    });
}

cdicom_status cdicom_decode_hu(cdicom_file *file, const cdicom_hu_options *options, float *out, size_t count,
                               cdicom_hu_report *report, char *message, size_t cap) {
    if (file == nullptr || out == nullptr) return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    return guarded(message, cap, [&]() -> cdicom_status {
        cdicom_hu_options opt{1, -1024.0f};
        if (options) opt = *options;
        cdicom_image_info info;
        cdicom_status s = image_info(file, info, message, cap);
        if (s != CDICOM_OK) return s;
        if (count != size_t(info.rows) * info.columns)
            return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "buffer size is not rows*columns");
        std::vector<int32_t> v;
        if ((s = decode_stored(file, info, v, message, cap)) != CDICOM_OK) return s;
        const bool rsna = opt.apply_rsna_fix && info.bits_stored == 12 && info.pixel_representation == 0 &&
                          info.rescale_intercept > -100.0;
        // Padding is defined in stored-value space; with a range limit every value between the
        // two (either order, PS3.3 C.7.5.1.1.2) is padding.
        double plo = info.padding_value, phi = info.padding_value;
        if (info.has_padding_range_limit) {
            plo = std::fmin(info.padding_value, info.padding_range_limit);
            phi = std::fmax(info.padding_value, info.padding_range_limit);
        }
        const float slope = float(info.rescale_slope), intercept = float(info.rescale_intercept);
        uint64_t padded = 0;
        for (size_t i = 0; i < count; ++i) {
            int32_t x = v[i];
            if (info.has_padding_value && x >= plo && x <= phi) { out[i] = opt.padding_fill; ++padded; continue; }
            if (rsna && x >= 2048) x -= 4096;
            out[i] = float(x) * slope + intercept;
        }
        if (report) { report->rsna_fix_applied = rsna ? 1 : 0; report->padded_pixels = padded; }
        return CDICOM_OK;
    });
}

}  // extern "C"
