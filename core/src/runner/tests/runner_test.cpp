#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config/config.h"
#include "runner/certificates.h"

using namespace livepatch;

namespace {
// A real self-signed certificate, made here so the test ships no key.
std::string makeCertificatePem() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("runner test"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_sign(cert, key, EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<size_t>(len));
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    return pem;
}
}  // namespace

TEST(Certificates, RealCertificatesPassBothChecks) {
    const std::string pem = makeCertificatePem() + makeCertificatePem();
    Config c;
    ASSERT_TRUE(c.apply({"ca-certs=" + pem}));
    EXPECT_TRUE(runner::parseCertificates("ca-certs", pem));
}

TEST(Certificates, StructurallyFineButNotX509IsRefusedBeforeSaving) {
    // Base64 of a DER SEQUENCE that is not a certificate: Config's structural
    // check (run by `status` without libcrypto) lets it through; the engine's
    // X.509 parse, run by `config ca-certs=...`, does not.
    std::string der = "\x30\x82\x00\x40" + std::string(0x40, '\x05');
    static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string body;
    for (size_t i = 0; i < der.size(); i += 3) {
        unsigned v = static_cast<unsigned char>(der[i]) << 16;
        if (i + 1 < der.size()) v |= static_cast<unsigned char>(der[i + 1]) << 8;
        if (i + 2 < der.size()) v |= static_cast<unsigned char>(der[i + 2]);
        body += b64[(v >> 18) & 63];
        body += b64[(v >> 12) & 63];
        body += i + 1 < der.size() ? b64[(v >> 6) & 63] : '=';
        body += i + 2 < der.size() ? b64[v & 63] : '=';
    }
    const std::string fake = "-----BEGIN CERTIFICATE-----\n" + body + "\n-----END CERTIFICATE-----\n";
    Config c;
    ASSERT_TRUE(c.apply({"ca-certs=" + fake}));
    auto s = runner::parseCertificates("ca-certs", fake);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code(), ErrorCode::ConfigInvalid);
    EXPECT_EQ(s.error().message(), "ca-certs: 1 of 1 PEM certificate(s) do not parse as X.509");
    // One good and one bad: still refused, and the count says which share.
    s = runner::parseCertificates("ca-certs", makeCertificatePem() + fake);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message(), "ca-certs: 1 of 2 PEM certificate(s) do not parse as X.509");
}

TEST(Certificates, ConfigStructuralCheckRefusesWhatIsNotPem) {
    const std::string good = makeCertificatePem();
    Config c;
    for (const std::string& bad : {std::string("not pem"),
                                   std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"),                        // no END
                                   std::string("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),  // not base64
                                   std::string("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")}) {  // "ABC"
        auto s = c.apply({"ca-certs=" + bad});
        ASSERT_FALSE(s) << bad;
        EXPECT_NE(s.error().message().find("expected one or more PEM certificates"), std::string::npos) << s.error().message();
    }
    auto s = c.apply({"ca-certs=" + good + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"});
    ASSERT_FALSE(s);
    EXPECT_NE(s.error().message().find("contains a private key"), std::string::npos);
}
