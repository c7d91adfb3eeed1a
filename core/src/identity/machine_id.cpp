#include "identity/machine_id.h"

#include <Poco/HMACEngine.h>
#include <Poco/SHA2Engine.h>

#include <cctype>

#include "util/fs.h"

namespace livepatch {

namespace {
const std::uint8_t kAppId[16] = {0x9e, 0x1b, 0x4c, 0x7f, 0x2d, 0x8a, 0x4f, 0x06,
                                 0xb5, 0xc3, 0xe1, 0xd7, 0xa2, 0xf4, 0x8b, 0x60};
// Poco's HMACEngine needs the block and digest sizes as members. Poco (not
// OpenSSL) keeps `status` and the idle daemon free of libcrypto.
class HmacSha256Engine : public Poco::SHA2Engine {
public:
    enum { BLOCK_SIZE = 64, DIGEST_SIZE = 32 };
    HmacSha256Engine() : Poco::SHA2Engine(Poco::SHA2Engine::SHA_256) {}
};
int hexVal(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

Result<std::array<std::uint8_t, 16>> readMachineId(const std::string& hostRoot) {
    const std::string path = fs::join(hostRoot, "etc/machine-id");
    auto text = fs::readFile(path, 4096);
    if (!text) return text.error();
    std::string s = *text;
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (s.size() != 32) return Error(ErrorCode::Io, path + " is not a 32-digit machine id");
    std::array<std::uint8_t, 16> id{};
    for (int i = 0; i < 16; ++i) {
        int hi = hexVal(s[2 * i]), lo = hexVal(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return Error(ErrorCode::Io, path + " is not a 32-digit machine id");
        id[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return id;
}

std::string appSpecificMachineId(const std::array<std::uint8_t, 16>& machineId, const std::string& serverUrl) {
    std::string data(reinterpret_cast<const char*>(kAppId), 16);
    data += serverUrl;
    Poco::HMACEngine<HmacSha256Engine> hmac(reinterpret_cast<const char*>(machineId.data()), machineId.size());
    hmac.update(data);
    Poco::DigestEngine::Digest mac = hmac.digest();
    mac[6] = (mac[6] & 0x0F) | 0x40;  // version 4
    mac[8] = (mac[8] & 0x3F) | 0x80;  // variant 10
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < 16; ++i) {
        out += hex[mac[i] >> 4];
        out += hex[mac[i] & 15];
    }
    return out;
}

Result<std::string> appSpecificMachineId(const std::string& hostRoot, const std::string& serverUrl) {
    auto id = readMachineId(hostRoot);
    if (!id) return id.error();
    return appSpecificMachineId(*id, serverUrl);
}

}  // namespace livepatch
