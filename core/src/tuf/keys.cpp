#include "tuf/keys.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstring>
#include <vector>

#include "crypto/sha256.h"

namespace livepatch::tuf {
namespace {

using PkeyPtr = std::shared_ptr<void>;

PkeyPtr own(EVP_PKEY* key) {
    return PkeyPtr(key, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}
EVP_PKEY* raw(const PkeyPtr& p) { return static_cast<EVP_PKEY*>(p.get()); }

struct MdCtx {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~MdCtx() { EVP_MD_CTX_free(ctx); }
};

bool hexDecode(std::string_view hex, std::vector<unsigned char>& out) {
    if (hex.size() % 2) return false;
    out.clear();
    out.reserve(hex.size() / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<unsigned char>(hi << 4 | lo));
    }
    return true;
}

const char* schemeName(KeyScheme s) {
    switch (s) {
    case KeyScheme::Ed25519: return "ed25519";
    case KeyScheme::RsaPssSha256: return "rsassa-pss-sha256";
    case KeyScheme::EcdsaP256Sha256: return "ecdsa-sha2-nistp256";
    }
    return "";
}

EVP_PKEY* readPublicPem(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return nullptr;
    EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    return key;
}

// The key material must be what the scheme says: an RSA key of at least
// 2048 bits for RSA-PSS, a P-256 key for ECDSA.
bool keyMatchesScheme(EVP_PKEY* key, KeyScheme scheme) {
    switch (scheme) {
    case KeyScheme::Ed25519: return EVP_PKEY_is_a(key, "ED25519");
    case KeyScheme::RsaPssSha256: return EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) >= 2048;
    case KeyScheme::EcdsaP256Sha256: {
        char group[64] = {0};
        std::size_t len = 0;
        return EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 &&
               std::strcmp(group, "prime256v1") == 0;
    }
    }
    return false;
}

// Set up ctx for the scheme: ed25519 signs the message itself; RSA-PSS and
// ECDSA hash with SHA-256 (PSS: MGF1-SHA-256, salt length auto-detected on
// verify so keys from other TUF implementations verify, digest length on sign).
bool initContext(EVP_MD_CTX* ctx, EVP_PKEY* key, KeyScheme scheme, bool forSigning) {
    EVP_PKEY_CTX* pctx = nullptr;
    const EVP_MD* md = scheme == KeyScheme::Ed25519 ? nullptr : EVP_sha256();
    int ok = forSigning ? EVP_DigestSignInit(ctx, &pctx, md, nullptr, key)
                        : EVP_DigestVerifyInit(ctx, &pctx, md, nullptr, key);
    if (ok != 1) return false;
    if (scheme == KeyScheme::RsaPssSha256) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1) return false;
        if (EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1) return false;
        if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, forSigning ? RSA_PSS_SALTLEN_DIGEST : RSA_PSS_SALTLEN_AUTO) != 1)
            return false;
    }
    return true;
}

}  // namespace

std::string hexEncode(const unsigned char* data, std::size_t len) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (std::size_t i = 0; i < len; ++i) {
        out += digits[data[i] >> 4];
        out += digits[data[i] & 0xF];
    }
    return out;
}

Result<PublicKey> PublicKey::fromJson(const Json& key) {
    const Json* keytype = key.find("keytype");
    const Json* scheme = key.find("scheme");
    const Json* keyval = key.find("keyval");
    const Json* pub = keyval ? keyval->find("public") : nullptr;
    if (!keytype || !keytype->isString() || !scheme || !scheme->isString() || !pub || !pub->isString())
        return Error(ErrorCode::Protocol, "key needs string keytype, scheme and keyval.public");
    PublicKey out;
    out.json_ = key;
    const std::string& type = keytype->asString();
    const std::string& sch = scheme->asString();
    EVP_PKEY* pkey = nullptr;
    if (type == "ed25519" && sch == "ed25519") {
        out.scheme_ = KeyScheme::Ed25519;
        std::vector<unsigned char> bytes;
        if (pub->asString().size() != 64 || !hexDecode(pub->asString(), bytes))
            return Error(ErrorCode::Protocol, "ed25519 public key is not 64 hex digits");
        pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes.data(), bytes.size());
    } else if (type == "rsa" && sch == "rsassa-pss-sha256") {
        out.scheme_ = KeyScheme::RsaPssSha256;
        pkey = readPublicPem(pub->asString());
    } else if ((type == "ecdsa" || type == "ecdsa-sha2-nistp256") && sch == "ecdsa-sha2-nistp256") {
        out.scheme_ = KeyScheme::EcdsaP256Sha256;
        pkey = readPublicPem(pub->asString());
    } else {
        return Error(ErrorCode::Protocol, "unsupported key type/scheme \"" + type + "\"/\"" + sch + "\"");
    }
    if (!pkey) return Error(ErrorCode::Protocol, std::string(schemeName(out.scheme_)) + " public key does not decode");
    out.pkey_ = own(pkey);
    if (!keyMatchesScheme(pkey, out.scheme_))
        return Error(ErrorCode::Protocol, std::string("public key does not fit scheme ") + schemeName(out.scheme_));
    return out;
}

std::string PublicKey::computeKeyId() const { return sha256Hex(canonicalJson(json_)); }

bool PublicKey::verify(std::string_view data, std::string_view sigHex) const {
    std::vector<unsigned char> sig;
    if (sigHex.empty() || sigHex.size() > 2048 || !hexDecode(sigHex, sig)) return false;
    MdCtx md;
    if (!md.ctx || !initContext(md.ctx, raw(pkey_), scheme_, false)) return false;
    return EVP_DigestVerify(md.ctx, sig.data(), sig.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) == 1;
}

Result<SigningKey> SigningKey::generate(KeyScheme scheme) {
    EVP_PKEY* key = nullptr;
    switch (scheme) {
    case KeyScheme::Ed25519: key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"); break;
    case KeyScheme::RsaPssSha256: key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(3072)); break;
    case KeyScheme::EcdsaP256Sha256: key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    }
    if (!key) return Error(ErrorCode::Internal, std::string("cannot generate a ") + schemeName(scheme) + " key");
    SigningKey out;
    out.scheme_ = scheme;
    out.pkey_ = own(key);
    return out;
}

Result<SigningKey> SigningKey::fromPem(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (!key) return Error(ErrorCode::InvalidArgument, "not a PEM private key");
    SigningKey out;
    out.pkey_ = own(key);
    if (EVP_PKEY_is_a(key, "ED25519")) out.scheme_ = KeyScheme::Ed25519;
    else if (EVP_PKEY_is_a(key, "RSA") && keyMatchesScheme(key, KeyScheme::RsaPssSha256))
        out.scheme_ = KeyScheme::RsaPssSha256;
    else if (keyMatchesScheme(key, KeyScheme::EcdsaP256Sha256)) out.scheme_ = KeyScheme::EcdsaP256Sha256;
    else return Error(ErrorCode::InvalidArgument, "private key is not ed25519, RSA >= 2048 bits or P-256");
    return out;
}

std::string SigningKey::toPem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, raw(pkey_), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return out;
}

Json SigningKey::publicJson() const {
    std::string pub;
    std::string keytype;
    if (scheme_ == KeyScheme::Ed25519) {
        unsigned char bytes[32];
        std::size_t len = sizeof bytes;
        EVP_PKEY_get_raw_public_key(raw(pkey_), bytes, &len);
        pub = hexEncode(bytes, len);
        keytype = "ed25519";
    } else {
        BIO* bio = BIO_new(BIO_s_mem());
        PEM_write_bio_PUBKEY(bio, raw(pkey_));
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        pub.assign(data, static_cast<std::size_t>(len));
        BIO_free(bio);
        keytype = scheme_ == KeyScheme::RsaPssSha256 ? "rsa" : "ecdsa";
    }
    Json::Object keyval{{"public", Json(pub)}};
    return Json(
        Json::Object{{"keytype", Json(keytype)}, {"scheme", Json(schemeName(scheme_))}, {"keyval", Json(keyval)}});
}

std::string SigningKey::keyId() const { return sha256Hex(canonicalJson(publicJson())); }

Result<std::string> SigningKey::sign(std::string_view data) const {
    MdCtx md;
    // One call with a buffer of the key's maximum signature size: a size
    // query first would consume the data for the hashing schemes.
    std::size_t len = static_cast<std::size_t>(EVP_PKEY_get_size(raw(pkey_)));
    std::vector<unsigned char> sig(len);
    if (!md.ctx || !initContext(md.ctx, raw(pkey_), scheme_, true) ||
        EVP_DigestSign(md.ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
        return Error(ErrorCode::Internal, "signing failed");
    return hexEncode(sig.data(), len);
}

}  // namespace livepatch::tuf
