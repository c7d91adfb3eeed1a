#include "module_signature.h"

#include <livepatch/trusted_files.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace livepatch::plugins {

namespace {

constexpr std::string_view kMagic = "~Module signature appended~\n";
constexpr size_t kSigInfoSize = 12;
constexpr std::uint8_t kPkeyIdPkcs7 = 2;

struct CertStack {
    STACK_OF(X509) * certs = sk_X509_new_null();
    ~CertStack() { sk_X509_pop_free(certs, X509_free); }
};

std::string nameOf(const X509_NAME* n) {
    if (!n) return "<unknown>";
    char buf[256];
    X509_NAME_oneline(n, buf, sizeof buf);
    return buf;
}

Status loadKeyring(const std::string& dir, bool enforce, CertStack& out) {
    auto files = readTrustedFiles(dir, {".pem", ".crt", ".der"}, enforce);
    if (!files) return files.error();
    for (const auto& file : *files) {
        const std::string& f = file.path;
        const std::string& data = file.bytes;
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())),
                                                      &BIO_free);
        if (f.size() > 4 && f.compare(f.size() - 4, 4, ".der") == 0) {
            if (X509* c = d2i_X509_bio(bio.get(), nullptr)) sk_X509_push(out.certs, c);
        } else {
            while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) sk_X509_push(out.certs, c);
        }
    }
    ERR_clear_error();
    if (sk_X509_num(out.certs) == 0)
        return Error(ErrorCode::UntrustedSigner, "keyring " + dir + " holds no certificates");
    return {};
}

}  // namespace

Result<AppendedSignature> parseAppendedSignature(std::string_view image) {
    const auto pos = image.rfind(kMagic);
    if (pos == std::string_view::npos)
        return Error(ErrorCode::Unsigned, "module is not signed (no \"~Module signature appended~\" trailer)");
    if (pos + kMagic.size() != image.size())
        return Error(ErrorCode::SignatureInvalid, "unexpected data after the module signature trailer");
    if (pos < kSigInfoSize) return Error(ErrorCode::SignatureInvalid, "truncated signature trailer");
    const auto* info = reinterpret_cast<const unsigned char*>(image.data() + pos - kSigInfoSize);
    AppendedSignature sig;
    sig.idType = info[2];
    if (sig.idType != kPkeyIdPkcs7)
        return Error(ErrorCode::SignatureInvalid,
                     "not a PKCS#7 signature (id_type " + std::to_string(sig.idType) + ")");
    if (info[0] != 0 || info[1] != 0 || info[3] != 0 || info[4] != 0)
        return Error(ErrorCode::SignatureInvalid, "malformed signature info for a PKCS#7 signature");
    const std::uint32_t sigLen = (std::uint32_t(info[8]) << 24) | (std::uint32_t(info[9]) << 16) |
                                 (std::uint32_t(info[10]) << 8) | std::uint32_t(info[11]);
    const size_t avail = pos - kSigInfoSize;
    if (sigLen == 0 || sigLen > avail) return Error(ErrorCode::SignatureInvalid, "signature length exceeds the module");
    sig.pkcs7 = image.substr(avail - sigLen, sigLen);
    sig.body = image.substr(0, avail - sigLen);
    return sig;
}

PluginInfo ModuleSignatureVerifier::info() const noexcept {
    return {"verify-module-signature", PluginRole::Verifier, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "Linux appended PKCS#7 module signature (RSA, SHA-512) against a keyring"};
}

std::vector<ConfigKey> ModuleSignatureVerifier::configKeys() const noexcept {
    return {textKey(
        "signature-hashes", "sha512", "allowed module signature digests: sha512[,sha256]",
        [](const std::string& key, const std::string& v) -> Status {
            auto items = splitConfigList(v);
            if (items.empty()) return configValueError(key, "sha512 and/or sha256", v);
            for (const auto& i : items)
                if (i != "sha512" && i != "sha256") return configValueError(key, "sha512 and/or sha256", v);
            return {};
        },
        R"(^(sha512|sha256)(,\s*(sha512|sha256))*$)")};
}

Status ModuleSignatureVerifier::configure(const PluginContext& ctx) noexcept {
    keyringDir_ = ctx.config->value("keyring-dir");  // core's key: every verifier reads it
    allowedHashes_ = ctx.config->list("signature-hashes");
    enforceOwnership_ = ::geteuid() == 0;
    return {};
}

Result<VerifyReport> ModuleSignatureVerifier::verify(const ModuleImage& image) noexcept {
    try {
        auto sig = parseAppendedSignature(image.bytes);
        if (!sig) return sig.error();
        CertStack keyring;
        LP_TRY(loadKeyring(keyringDir_, enforceOwnership_, keyring));

        const auto* der = reinterpret_cast<const unsigned char*>(sig->pkcs7.data());
        std::unique_ptr<CMS_ContentInfo, decltype(&CMS_ContentInfo_free)> cms(
            d2i_CMS_ContentInfo(nullptr, &der, static_cast<long>(sig->pkcs7.size())), &CMS_ContentInfo_free);
        if (!cms || der != reinterpret_cast<const unsigned char*>(sig->pkcs7.data()) + sig->pkcs7.size()) {
            ERR_clear_error();
            return Error(ErrorCode::SignatureInvalid, "malformed PKCS#7 signature");
        }
        STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
        if (!signers || sk_CMS_SignerInfo_num(signers) != 1)
            return Error(ErrorCode::SignatureInvalid, "PKCS#7 signature must have exactly one signer");
        CMS_SignerInfo* si = sk_CMS_SignerInfo_value(signers, 0);
        X509_ALGOR *digestAlg = nullptr, *sigAlg = nullptr;
        EVP_PKEY* pk = nullptr;
        X509* signerCert = nullptr;
        CMS_SignerInfo_get0_algs(si, &pk, &signerCert, &digestAlg, &sigAlg);
        const int dnid = digestAlg ? OBJ_obj2nid(digestAlg->algorithm) : NID_undef;
        const std::string digest = dnid == NID_sha512   ? "sha512"
                                   : dnid == NID_sha256 ? "sha256"
                                   : dnid == NID_undef  ? "unknown"
                                                        : OBJ_nid2sn(dnid);
        if (std::find(allowedHashes_.begin(), allowedHashes_.end(), digest) == allowedHashes_.end()) {
            std::string allowed;
            for (const auto& a : allowedHashes_) allowed += (allowed.empty() ? "" : ",") + a;
            return Error(ErrorCode::SignatureInvalid,
                         "signature digest " + digest + " is not allowed (allowed: " + allowed + ")");
        }
        const int snid = sigAlg ? OBJ_obj2nid(sigAlg->algorithm) : NID_undef;
        if (snid != NID_rsaEncryption && snid != NID_sha512WithRSAEncryption && snid != NID_sha256WithRSAEncryption)
            return Error(ErrorCode::SignatureInvalid, "only RSA module signatures are accepted");

        X509* match = nullptr;
        for (int i = 0; i < sk_X509_num(keyring.certs); ++i)
            if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(keyring.certs, i)) == 0)
                match = sk_X509_value(keyring.certs, i);
        if (!match) {
            ASN1_OCTET_STRING* keyid = nullptr;
            X509_NAME* issuer = nullptr;
            ASN1_INTEGER* serial = nullptr;
            CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &serial);
            return Error(ErrorCode::UntrustedSigner, "module is signed by " +
                                                         (issuer ? nameOf(issuer) : std::string("an unknown key")) +
                                                         ", which is not in keyring " + keyringDir_);
        }
        std::unique_ptr<BIO, decltype(&BIO_free)> content(
            BIO_new_mem_buf(sig->body.data(), static_cast<int>(sig->body.size())), &BIO_free);
        std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
        // Trust is membership of the keyring (as in the kernel), so no chain
        // verification of the signer certificate.
        const int ok = CMS_verify(cms.get(), keyring.certs, store.get(), content.get(), nullptr,
                                  CMS_BINARY | CMS_DETACHED | CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN);
        ERR_clear_error();
        if (ok != 1) return Error(ErrorCode::SignatureInvalid, "signature does not match the module contents");
        VerifyReport r;
        r.verifier = "verify-module-signature";
        r.signer = nameOf(X509_get_subject_name(match));
        r.algorithm = "rsa-" + digest;
        r.detail = "signed by " + r.signer + " (" + r.algorithm + ")";
        return r;
    } catch (const std::exception& e) {
        return Error(ErrorCode::Internal, std::string("verify-module-signature: ") + e.what());
    }
}

}  // namespace livepatch::plugins
