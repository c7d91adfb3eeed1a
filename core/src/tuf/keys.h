// TUF keys: public keys from metadata (verification, with OpenSSL 3 EVP)
// and private signing keys (used only by the repository tool and tests;
// the agent never links signing code it does not call).
//
// Schemes (TUF 1.0 / securesystemslib names):
//   keytype "ed25519", scheme "ed25519", keyval.public = 64 hex chars
//   keytype "rsa", scheme "rsassa-pss-sha256", keyval.public = PEM SubjectPublicKeyInfo
//   keytype "ecdsa"|"ecdsa-sha2-nistp256", scheme "ecdsa-sha2-nistp256", keyval.public = PEM
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "livepatch/error.h"
#include "tuf/json.h"

namespace livepatch::tuf {

enum class KeyScheme { Ed25519, RsaPssSha256, EcdsaP256Sha256 };

class PublicKey {
public:
    // Parse a key object from metadata; Protocol error for unknown schemes
    // or a key value that does not decode.
    static Result<PublicKey> fromJson(const Json& key);

    KeyScheme scheme() const noexcept { return scheme_; }
    // The key object as it appeared in metadata (its canonical form is what
    // the key id hashes).
    const Json& json() const noexcept { return json_; }
    // Key id per the specification: SHA-256 of the canonical key object.
    std::string computeKeyId() const;

    // True only for a valid signature (hex-encoded `sigHex`) over `data`.
    bool verify(std::string_view data, std::string_view sigHex) const;

private:
    KeyScheme scheme_ = KeyScheme::Ed25519;
    Json json_;
    std::shared_ptr<void> pkey_;  // EVP_PKEY, parsed once
};

class SigningKey {
public:
    static Result<SigningKey> generate(KeyScheme scheme);
    // PKCS#8 PEM private key (as written by toPem, openssl genpkey, ...).
    static Result<SigningKey> fromPem(const std::string& pem);

    std::string toPem() const;
    KeyScheme scheme() const noexcept { return scheme_; }
    // The public key object to put in root/delegations, and its id.
    Json publicJson() const;
    std::string keyId() const;
    // Hex signature over data.
    Result<std::string> sign(std::string_view data) const;

private:
    KeyScheme scheme_ = KeyScheme::Ed25519;
    std::shared_ptr<void> pkey_;
};

// Lowercase hex of bytes (signatures, digests).
std::string hexEncode(const unsigned char* data, std::size_t len);

}  // namespace livepatch::tuf
