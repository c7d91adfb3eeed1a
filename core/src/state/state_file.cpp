#include "state/state_file.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <sstream>

#include "util/digest.h"
#include "util/fs.h"

namespace livepatch {

namespace {
constexpr const char* kMagic = "LPSTATE 1 ";

// State files are a few KiB: Poco's SHA-256 is plenty, and it keeps `status`
// and the idle daemon (which read state) free of libcrypto. Bulk hashing of
// downloads and modules uses OpenSSL (util/sha256.h).
std::string checksumHex(std::string_view payload) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(payload.data(), static_cast<unsigned>(payload.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
}
}  // namespace

Result<std::optional<std::string>> StateFile::load() const {
    auto raw = fs::readFile(path_, 64u << 20);
    if (!raw) {
        if (raw.error().code() == ErrorCode::NotFound) return std::optional<std::string>();
        return raw.error();
    }
    const std::string& data = *raw;
    auto corrupt = [&](const std::string& why) {
        return Error(ErrorCode::StateCorrupt, path_ + " is corrupt (" + why +
                                                  "); it was left in place for inspection. "
                                                  "Move it away to start over");
    };
    auto nl = data.find('\n');
    if (data.rfind(kMagic, 0) != 0 || nl == std::string::npos) return corrupt("bad header");
    std::istringstream header(data.substr(10, nl - 10));
    std::string digest;
    unsigned long long length = 0;
    if (!(header >> digest >> length) || digest.size() != 64) return corrupt("bad header");
    std::string payload = data.substr(nl + 1);
    if (payload.size() != length)
        return corrupt("length " + std::to_string(payload.size()) + ", expected " + std::to_string(length));
    if (!digestEquals(checksumHex(payload), digest)) return corrupt("checksum mismatch");
    return std::optional<std::string>(std::move(payload));
}

Status StateFile::save(std::string_view payload) const {
    std::string data = kMagic + checksumHex(payload) + " " + std::to_string(payload.size()) + "\n";
    data.append(payload);
    return fs::writeFileAtomic(path_, data, 0600);
}

Status StateFile::remove() const { return fs::removeFile(path_); }

}  // namespace livepatch
