#include "runner/certificates.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

namespace livepatch::runner {

Status parseCertificates(const std::string& key, const std::string& pem) {
    if (pem.empty()) return {};
    static const std::string begin = "-----BEGIN CERTIFICATE-----";
    int expected = 0;
    for (size_t pos = pem.find(begin); pos != std::string::npos; pos = pem.find(begin, pos + 1)) ++expected;
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return Error(ErrorCode::Internal, "out of memory");
    int parsed = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        ++parsed;
        X509_free(cert);
    }
    BIO_free(bio);
    if (parsed == 0 || parsed != expected)
        return Error(ErrorCode::ConfigInvalid, key + ": " + std::to_string(expected - parsed) + " of " + std::to_string(expected) +
                                                   " PEM certificate(s) do not parse as X.509");
    return {};
}

}  // namespace livepatch::runner
