#include "admin_auth.h"

#include <argon2.h>
#include <crypt.h>
#include <macaroons.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>
#include <regex>
#include <sstream>

#include "livepatch/macaroon_text.h"

#include "crypto/sha256.h"
#include "util/timeutil.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

std::string hashAdminPassword(const std::string& password) {
    unsigned char salt[16];
    RAND_bytes(salt, sizeof salt);
    char encoded[256];
    argon2id_hash_encoded(2, 1 << 15, 1, password.data(), password.size(), salt, sizeof salt, 32, encoded,
                          sizeof encoded);
    return encoded;
}

namespace {
bool isBcrypt(const std::string& h) {
    return h.size() == 60 && (h.rfind("$2y$", 0) == 0 || h.rfind("$2b$", 0) == 0 || h.rfind("$2a$", 0) == 0);
}
}  // namespace

bool verifyAdminPassword(const std::string& encoded, const std::string& password) {
    if (encoded.rfind("$argon2id$", 0) == 0)
        return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;  // constant time inside
    if (isBcrypt(encoded)) {
        // crypt(3) stops at a NUL: a password with one is not the one hashed.
        if (password.find('\0') != std::string::npos) return false;
        crypt_data data;
        std::memset(&data, 0, sizeof data);
        const char* out = crypt_r(password.c_str(), encoded.c_str(), &data);
        // A failed crypt_r returns a string starting with '*', never equal.
        return out && std::strlen(out) == encoded.size() && CRYPTO_memcmp(out, encoded.data(), encoded.size()) == 0;
    }
    return false;
}

bool isAdminUserName(const std::string& user) {
    static const std::regex re("^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$");
    return std::regex_match(user, re);
}

livepatch::Result<AdminUsers> AdminUsers::parse(const std::string& text) {
    AdminUsers users;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty() || line[0] == '#') continue;
        std::string user = "admin", hash = line;
        if (line[0] != '$') {
            auto colon = line.find(':');
            if (colon == std::string::npos || colon == 0)
                return Error(ErrorCode::ConfigInvalid,
                             "admin-password line " + std::to_string(n) + ": expected HASH or USER:HASH");
            user = line.substr(0, colon);
            hash = line.substr(colon + 1);
            if (!isAdminUserName(user))
                return Error(ErrorCode::ConfigInvalid, "admin-password line " + std::to_string(n) +
                                                           ": the user name must be " + kAdminUserNameRule);
        }
        if (hash.rfind("$argon2id$", 0) != 0 && !isBcrypt(hash))
            return Error(ErrorCode::ConfigInvalid, "admin-password line " + std::to_string(n) +
                                                       ": the hash is neither argon2id nor bcrypt ($2y$)");
        users.hashes_[user] = hash;
    }
    return users;
}

bool AdminUsers::verify(const std::string& user, const std::string& password) const {
    auto it = hashes_.find(user);
    if (it == hashes_.end()) {
        // Spend the same work on an unknown user as on a wrong password.
        if (!hashes_.empty()) (void)verifyAdminPassword(hashes_.begin()->second, password + "\x01");
        return false;
    }
    return verifyAdminPassword(it->second, password);
}

std::string mintMacaroon(const std::string& key, const std::string& id, const std::vector<std::string>& caveats) {
    static const std::string loc = "livepatch-server";
    macaroon_returncode err;
    macaroon* m = macaroon_create(reinterpret_cast<const unsigned char*>(loc.data()), loc.size(),
                                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                                  reinterpret_cast<const unsigned char*>(id.data()), id.size(), &err);
    for (const auto& c : caveats) {
        macaroon* n =
            macaroon_add_first_party_caveat(m, reinterpret_cast<const unsigned char*>(c.data()), c.size(), &err);
        macaroon_destroy(m);
        m = n;
    }
    std::string out(macaroon_serialize_size_hint(m), '\0');
    macaroon_serialize(m, &out[0], out.size(), &err);
    macaroon_destroy(m);
    out.resize(out.find('\0'));
    return out;
}

bool verifyMacaroon(const std::string& key, const std::string& token, int (*check)(void*, const unsigned char*, size_t),
                    void* ctx, std::string* idOut) {
    // Checked first: libmacaroons 0.3.0 leaks on some text a client can send
    // (livepatch/macaroon_text.h), and this server runs for months.
    if (key.empty() || !livepatch::deserializableMacaroonText(token, 8192)) return false;
    macaroon_returncode err;
    macaroon* m = macaroon_deserialize(token.c_str(), &err);
    if (!m) return false;
    macaroon_verifier* v = macaroon_verifier_create();
    macaroon_verifier_satisfy_general(v, check, ctx, &err);
    int rc = macaroon_verify(v, m, reinterpret_cast<const unsigned char*>(key.data()), key.size(), nullptr, 0, &err);
    if (idOut) {
        const unsigned char* id = nullptr;
        size_t idLen = 0;
        macaroon_identifier(m, &id, &idLen);
        idOut->assign(reinterpret_cast<const char*>(id), idLen);
    }
    macaroon_verifier_destroy(v);
    macaroon_destroy(m);
    return rc == 0;
}

std::string adminMacaroonKey(const std::string& rootKey) {
    static const std::string label = "livepatch-server admin macaroon v1";
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), rootKey.data(), static_cast<int>(rootKey.size()),
         reinterpret_cast<const unsigned char*>(label.data()), label.size(), out, &len);
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string mintAdminMacaroon(const std::string& rootKey, const std::string& user,
                              std::chrono::system_clock::time_point expires) {
    unsigned char rid[16];
    RAND_bytes(rid, sizeof rid);
    const std::string id =
        "admin-" + livepatch::sha256Hex(std::string(reinterpret_cast<char*>(rid), sizeof rid)).substr(0, 32);
    return mintMacaroon(adminMacaroonKey(rootKey), id,
                        {"admin = " + user, "time < " + livepatch::timeutil::formatRfc3339(expires)});
}

namespace {
struct AdminCaveats {
    std::optional<std::string> user;
    bool expiry = false;
};
int checkAdminCaveat(void* ctx, const unsigned char* pred, size_t sz) {
    auto& c = *static_cast<AdminCaveats*>(ctx);
    std::string p(reinterpret_cast<const char*>(pred), sz);
    if (p.rfind("time < ", 0) == 0) {
        auto when = livepatch::timeutil::parseRfc3339(p.substr(7));
        if (!when || std::chrono::system_clock::now() >= *when) return -1;
        c.expiry = true;
        return 0;
    }
    if (p.rfind("admin = ", 0) == 0) {
        // Caveats may be appended by any holder: a second user name is refused.
        if (c.user && *c.user != p.substr(8)) return -1;
        c.user = p.substr(8);
        return 0;
    }
    return -1;
}
}  // namespace

std::optional<std::string> verifyAdminMacaroon(const std::string& rootKey, const std::string& token) {
    if (rootKey.empty()) return std::nullopt;
    AdminCaveats c;
    if (!verifyMacaroon(adminMacaroonKey(rootKey), token, &checkAdminCaveat, &c) || !c.user || !c.expiry)
        return std::nullopt;
    return c.user;
}

}  // namespace lpserver
