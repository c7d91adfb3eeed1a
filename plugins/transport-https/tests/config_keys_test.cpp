// The config keys transport-https owns: declared here, validated by these
// declarations when `livepatch-agent config` sets them (ca-certs with the one
// X.509 parse that configure() also uses).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <livepatch/testing/fakes.h>

#include "https_transport.h"

using namespace livepatch;
using livepatch::plugins::HttpsTransport;

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
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("config test"), -1, -1,
                               0);
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

// Why `config KEY=VALUE` would refuse the value, "" if it takes it.
std::string refusal(const std::string& key, const std::string& value) {
    HttpsTransport t;
    for (const auto& k : t.configKeys())
        if (k.name == key) {
            auto s = checkConfigValue(k, value);
            return s ? "" : s.error().message();
        }
    return "undeclared";
}

}  // namespace

TEST(HttpsConfigKeys, DeclaresTheTransportKeysWithTheirDefaults) {
    HttpsTransport t;
    livepatch::testing::MapConfigView view;
    view.declare(t.configKeys());
    EXPECT_EQ(view.value("dial-timeout"), "10");
    EXPECT_EQ(view.value("request-timeout"), "300");
    EXPECT_EQ(view.value("ca-certs"), "");
    for (const auto& k : t.configKeys())
        if (k.name == "https-proxy" || k.name == "http-proxy") EXPECT_TRUE(k.secret) << k.name;
}

TEST(HttpsConfigKeys, PreciseMessages) {
    EXPECT_EQ(refusal("dial-timeout", "0"), "dial-timeout: expected seconds > 0, got \"0\"");
    EXPECT_NE(refusal("server-pins", "short").find("pins"), std::string::npos);
    EXPECT_NE(refusal("http-proxy", "proxy:3128").find("proxy URL"), std::string::npos);
    // Regression (security review item 4): an https:// proxy was accepted and
    // then spoken to in plain text, credentials included.
    const std::string httpsProxy = refusal("https-proxy", "https://user:s3cret@proxy.example:3128");
    EXPECT_NE(httpsProxy.find("https-proxy: an https:// proxy is not supported"), std::string::npos) << httpsProxy;
    EXPECT_EQ(httpsProxy.find("s3cret"), std::string::npos) << httpsProxy;
    EXPECT_NE(refusal("https-proxy", "http://a&b:3128").find("is not a valid host name"), std::string::npos);
    EXPECT_NE(refusal("no-proxy", "a b").find("host names"), std::string::npos);
    EXPECT_EQ(refusal("no-proxy", ".example.com, 10.0.0.1"), "");
}

TEST(HttpsConfigKeys, RealCertificatesAreTakenAndUsed) {
    const std::string pem = makeCertificatePem() + makeCertificatePem();
    EXPECT_EQ(refusal("ca-certs", pem), "");
    HttpsTransport t;
    livepatch::testing::MapConfigView view;
    view.declare(t.configKeys()).set("ca-certs", pem);
    livepatch::testing::CapturingLogger log;
    livepatch::testing::ManualClock clock;
    PluginContext ctx;
    ctx.config = &view;
    ctx.logger = &log;
    ctx.clock = &clock;
    EXPECT_TRUE(t.configure(ctx));
}

TEST(HttpsConfigKeys, WhatIsNotAnX509CertificateIsRefusedBeforeSaving) {
    for (const std::string& bad : {std::string("not pem"), std::string("-----BEGIN CERTIFICATE-----\nAAAA\n"),
                                   std::string("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
                                   std::string("-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n")})
        EXPECT_NE(refusal("ca-certs", bad), "") << bad;
    EXPECT_EQ(refusal("ca-certs", "not pem"), "ca-certs: expected one or more PEM certificates, got \"not pem\"");
    const std::string fake =
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ0VnT3d8Yl5p4Ckx3t5Hk9nF8p0wCgYIKoZIzj0EAwIw\n"
        "-----END CERTIFICATE-----\n";
    EXPECT_EQ(refusal("ca-certs", fake), "ca-certs: 1 of 1 PEM certificate(s) do not parse as X.509");
    // One good and one bad: still refused, and the count says which share.
    EXPECT_EQ(refusal("ca-certs", makeCertificatePem() + fake),
              "ca-certs: 1 of 2 PEM certificate(s) do not parse as X.509");
    EXPECT_NE(
        refusal("ca-certs", makeCertificatePem() + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .find("contains a private key"),
        std::string::npos);
    // fuzz-config found a leak here once (base64 the decoder refuses).
    EXPECT_NE(refusal("ca-certs",
                      "-----BEGIN CERTIFICATE-----\n  MII" + std::string(83, '+') + "B\n-----END CERTIFICATE-----\n"),
              "");
}
