// C-STORE receiver: DCMTK's DcmSCP, each object written bit-preserving under a hidden temporary
// name in the drop folder and renamed when complete, so the watcher never sees half a file.
#include "cdicom.h"
#include "cdicom_private.h"

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmnet/scp.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

struct cdicom_stop_flag {
    std::atomic<int> stop{0};
};

namespace {

class DropFolderSCP : public DcmSCP {
  public:
    DropFolderSCP(std::string dir) : dir_(std::move(dir)) {}

    const cdicom_stop_flag *stop = nullptr;
    cdicom_scp_stored_callback on_stored = nullptr;
    void *context = nullptr;
    unsigned long stored = 0, failed = 0;

  protected:
    OFCondition handleIncomingCommand(T_DIMSE_Message *msg, const DcmPresentationContextInfo &info) override {
        if (msg->CommandField != DIMSE_C_STORE_RQ) return DcmSCP::handleIncomingCommand(msg, info);
        T_DIMSE_C_StoreRQ &req = msg->msg.CStoreRQ;
        const std::string name = safe_name(req.AffectedSOPInstanceUID);
        const std::string temp = dir_ + "/.incoming-" + name + ".part";
        const std::string final_path = dir_ + "/" + name + ".dcm";
        OFCondition cond = receiveSTORERequest(req, info.presentationContextID, OFString(temp.c_str()));
        Uint16 status = STATUS_Success;
        if (cond.good() && std::rename(temp.c_str(), final_path.c_str()) == 0) {
            ++stored;
            if (on_stored) on_stored(context, final_path.c_str());
        } else {
            // Leave nothing half-written behind; the sender is told and may retry.
            std::remove(temp.c_str());
            ++failed;
            status = STATUS_STORE_Refused_OutOfResources;
        }
        if (cond.bad() && cond != DIMSE_OUTOFRESOURCES) {
            // The association is broken (e.g. peer aborted): no response can be sent.
            return cond;
        }
        return sendSTOREResponse(info.presentationContextID, req, status);
    }

    OFBool stopAfterConnectionTimeout() override { return stop && stop->stop.load() != 0; }
    OFBool stopAfterCurrentAssociation() override { return stop && stop->stop.load() != 0; }

  private:
    // SOP Instance UIDs are digits and dots; anything else (a hostile sender) becomes '_'.
    static std::string safe_name(const char *uid) {
        std::string s;
        for (const char *p = uid; p && *p && s.size() < 64; ++p)
            s.push_back((*p >= '0' && *p <= '9') || *p == '.' ? *p : '_');
        if (s.empty() || s[0] == '.') s.insert(0, "obj");
        return s;
    }
    std::string dir_;
};

}  // namespace

struct cdicom_scp {
    DropFolderSCP scp;
    explicit cdicom_scp(const std::string &dir) : scp(dir) {}
};

using cdicom_intake::fail;

extern "C" {

cdicom_stop_flag *cdicom_stop_flag_create(void) {
    try { return new cdicom_stop_flag(); } catch (...) { return nullptr; }
}
void cdicom_stop_flag_set(cdicom_stop_flag *flag) {
    if (flag) flag->stop.store(1);
}
void cdicom_stop_flag_destroy(cdicom_stop_flag *flag) { delete flag; }

cdicom_status cdicom_scp_open(const cdicom_scp_config *config, cdicom_scp **out, char *message, size_t cap) {
    if (config == nullptr || out == nullptr || config->output_directory == nullptr || config->ae_title == nullptr)
        return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    *out = nullptr;
    try {
        cdicom_intake::initialize();
        auto *s = new cdicom_scp(config->output_directory);
        DcmSCP &scp = s->scp;
        scp.setAETitle(config->ae_title);
        scp.setPort(config->port);
        scp.setHostLookupEnabled(OFFalse);
        scp.setConnectionBlockingMode(DUL_NOBLOCK);
        scp.setConnectionTimeout(config->poll_seconds ? config->poll_seconds : 1);
        scp.setACSETimeout(30);
        scp.setDIMSETimeout(60);
        OFList<OFString> xfers;
        // Accept what the scanner proposes: uncompressed first, then the codecs the decoder has.
        const char *syntaxes[] = {
            UID_LittleEndianExplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
            UID_LittleEndianImplicitTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
            UID_JPEGProcess14SV1TransferSyntax, UID_JPEGProcess14TransferSyntax,
            UID_JPEGProcess1TransferSyntax, UID_JPEGProcess2_4TransferSyntax,
            UID_JPEGLSLosslessTransferSyntax, UID_JPEGLSLossyTransferSyntax, UID_RLELosslessTransferSyntax,
        };
        for (const char *x : syntaxes) xfers.push_back(x);
        for (int i = 0; i < numberOfDcmAllStorageSOPClassUIDs; ++i)
            scp.addPresentationContext(dcmAllStorageSOPClassUIDs[i], xfers);
        OFList<OFString> echo;
        echo.push_back(UID_LittleEndianImplicitTransferSyntax);
        scp.addPresentationContext(UID_VerificationSOPClass, echo);
        OFCondition cond = scp.openListenPort();
        if (cond.bad()) {
            delete s;
            return fail(message, cap, CDICOM_ERR_NETWORK,
                        "cannot listen on port " + std::to_string(config->port) + ": " + cond.text());
        }
        *out = s;
        return CDICOM_OK;
    } catch (...) {
        return fail(message, cap, CDICOM_ERR_INTERNAL, "internal error starting the C-STORE receiver");
    }
}

cdicom_status cdicom_scp_run(cdicom_scp *s, const cdicom_stop_flag *stop, cdicom_scp_stored_callback on_stored,
                             void *context, char *message, size_t cap) {
    if (s == nullptr || stop == nullptr) return fail(message, cap, CDICOM_ERR_INVALID_ARGUMENT, "NULL argument");
    try {
        s->scp.stop = stop;
        s->scp.on_stored = on_stored;
        s->scp.context = context;
        OFCondition cond = s->scp.acceptAssociations();
        // Leaving the loop because the stop flag was set is the normal end.
        if (cond.bad() && cond != NET_EC_StopAfterConnectionTimeout && cond != NET_EC_StopAfterAssociation &&
            stop->stop.load() == 0)
            return fail(message, cap, CDICOM_ERR_NETWORK, std::string("C-STORE receiver stopped: ") + cond.text());
        return CDICOM_OK;
    } catch (...) {
        return fail(message, cap, CDICOM_ERR_INTERNAL, "internal error in the C-STORE receiver");
    }
}

void cdicom_scp_close(cdicom_scp *s) {
    try { delete s; } catch (...) {}
}

}  // extern "C"
