#include "package/signed_patch.h"

#include <regex>

#include "livepatch/text.h"
#include "tuf/updater.h"
#include "util/timeutil.h"

namespace livepatch {

namespace {

Result<std::string> signedText(const tuf::Json& custom, const std::string& key, bool required, std::size_t maxBytes,
                               const std::string& ctx) {
    const tuf::Json* v = custom.find(key);
    if (!v || v->kind() == tuf::Json::Kind::Null) {
        if (required) return Error(ErrorCode::Protocol, ctx + ": signed custom field \"" + key + "\" is missing");
        return std::string();
    }
    if (!v->isString() || !isPrintableText(v->asString(), maxBytes))
        return Error(ErrorCode::Protocol, ctx + ": signed custom field \"" + key +
                                              "\" must be printable text of at most " + std::to_string(maxBytes) +
                                              " bytes");
    return v->asString();
}

std::string baseName(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::optional<SignedPatch>> readSignedPatch(
    const tuf::TargetFile& t,
    const std::function<bool(const std::string& kernel, const std::string& architecture)>& wanted) {
    const std::string ctx = "target " + tuf::printable(t.path);
    if (!t.custom.isObject()) return std::optional<SignedPatch>();  // not a patch: not ours to load
    auto k = signedText(t.custom, "kernel", true, 128, ctx);
    if (!k) return k.error();
    auto arch = signedText(t.custom, "architecture", true, 32, ctx);
    if (!arch) return arch.error();
    if (!wanted(*k, *arch)) return std::optional<SignedPatch>();
    SignedPatch p;
    p.kernel = *k;
    p.architecture = *arch;
    auto name = signedText(t.custom, "name", true, 64, ctx);
    if (!name) return name.error();
    auto version = signedText(t.custom, "version", true, 64, ctx);
    if (!version) return version.error();
    if (!isPatchVersion(*version))
        return Error(ErrorCode::Protocol, ctx + ": signed version \"" + *version + "\" is not a patch version");
    auto published = signedText(t.custom, "published", true, 64, ctx);
    if (!published) return published.error();
    if (!timeutil::parseRfc3339(*published))
        return Error(ErrorCode::Protocol, ctx + ": signed \"published\" is not an RFC 3339 time");
    static const std::regex fileRe("^[A-Za-z0-9._+-]{1,200}$");
    p.filename = baseName(t.path);
    if (!std::regex_match(p.filename, fileRe))
        return Error(ErrorCode::Protocol, ctx + ": the file name is not a plain patch file name");
    if (!t.hashes.count("sha256")) return Error(ErrorCode::Protocol, ctx + ": the signed entry lists no sha256");
    p.name = *name;
    p.version = *version;
    p.published = *published;
    p.sha256 = t.hashes.at("sha256");
    p.length = t.length;
    if (const tuf::Json* fixes = t.custom.find("fixes")) {
        if (!fixes->isArray()) return Error(ErrorCode::Protocol, ctx + ": signed \"fixes\" must be an array");
        for (const auto& f : fixes->asArray()) {
            if (!f.isObject()) return Error(ErrorCode::Protocol, ctx + ": each signed fix must be an object");
            PatchFix fix;
            auto n = signedText(f, "name", true, 128, ctx + " fix");
            if (!n) return n.error();
            auto d = signedText(f, "description", false, 1024, ctx + " fix");
            if (!d) return d.error();
            auto b = signedText(f, "bug", false, 256, ctx + " fix");
            if (!b) return b.error();
            fix.name = *n, fix.description = *d, fix.bug = *b;
            // Absent means patched (the fix is what the patch is for); any
            // value but a JSON boolean is refused: "no" or 0 must never
            // read as patched in `status --cve`.
            const tuf::Json* patched = f.find("patched");
            if (patched && !patched->isBool())
                return Error(ErrorCode::Protocol, ctx + " fix: \"patched\" must be true or false");
            fix.patched = !patched || patched->asBool();
            p.fixes.push_back(fix);
        }
    }
    return std::optional<SignedPatch>(std::move(p));
}

}  // namespace livepatch
