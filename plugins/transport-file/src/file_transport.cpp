#include "file_transport.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <cerrno>
#include <cstring>
#include <regex>

namespace livepatch::plugins {

namespace {

// Mirror root = the URL path up to "/v1/".
Result<std::pair<std::string, std::string>> splitUrl(const std::string& url) {
    try {
        Poco::URI u(url);
        if (u.getScheme() != "file" || !u.getHost().empty()) return Error(ErrorCode::InvalidArgument, "expected a file:/// URL");
        const std::string p = u.getPath();
        auto pos = p.find("/v1/");
        if (pos == std::string::npos) return Error(ErrorCode::NotFound, "not a protocol path: " + p);
        return std::make_pair(p.substr(0, pos), p.substr(pos));
    } catch (...) {
        return Error(ErrorCode::InvalidArgument, "invalid file URL");
    }
}

// Resolve rel under root; refuse anything that leaves the root after
// following links, and anything that is not a regular file.
Result<std::string> resolveInside(const std::string& root, const std::string& rel) {
    char realRoot[PATH_MAX], realFile[PATH_MAX];
    if (!::realpath(root.c_str(), realRoot)) return Error(ErrorCode::NotFound, "mirror " + root + " does not exist");
    const std::string candidate = std::string(realRoot) + "/" + rel;
    if (!::realpath(candidate.c_str(), realFile)) return Error(ErrorCode::NotFound, "mirror has no " + rel);
    const std::string rootStr = std::string(realRoot) + "/";
    if (std::string(realFile).rfind(rootStr, 0) != 0) return Error(ErrorCode::Permission, "mirror entry " + rel + " leads outside the mirror");
    struct stat st;
    if (::stat(realFile, &st) != 0 || !S_ISREG(st.st_mode)) return Error(ErrorCode::NotFound, "mirror entry " + rel + " is not a file");
    return std::string(realFile);
}

Result<std::string> readBounded(const std::string& path, std::uint64_t max) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error(ErrorCode::Io, "cannot read " + path + ": " + std::strerror(errno));
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > max) {
            ::close(fd);
            return Error(ErrorCode::TooLarge, path + " is larger than " + std::to_string(max) + " bytes");
        }
    }
    ::close(fd);
    return out;
}

}  // namespace

Result<std::string> mirrorPathFor(const std::string& method, const std::string& path, const std::string& body) {
    static const std::regex client("^/v1/client/[0-9a-f]{32}$");
    static const std::regex updates("^/v1/client/[0-9a-f]{32}/updates$");
    static const std::regex patch("^/v1/patches/([A-Za-z0-9._+-]{1,200})$");
    static const std::regex safe("^[A-Za-z0-9._+-]{1,128}$");
    std::smatch m;
    if (method == "POST" && std::regex_match(path, client)) return std::string("v1/register.json");
    if (method == "POST" && std::regex_match(path, updates)) {
        try {
            Poco::JSON::Parser p;
            auto o = p.parse(body).extract<Poco::JSON::Object::Ptr>();
            const std::string kernel = o->getValue<std::string>("kernel"), arch = o->getValue<std::string>("architecture");
            if (!std::regex_match(kernel, safe) || !std::regex_match(arch, safe) || kernel.find("..") != std::string::npos)
                return Error(ErrorCode::InvalidArgument, "kernel or architecture not usable as a mirror path");
            return "v1/updates/" + kernel + "/" + arch + ".json";
        } catch (...) {
            return Error(ErrorCode::InvalidArgument, "updates request without kernel/architecture");
        }
    }
    if (method == "GET" && std::regex_match(path, m, patch)) return "v1/patches/" + m[1].str();
    return Error(ErrorCode::NotFound, "the mirror does not serve " + method + " " + path);
}

PluginInfo FileTransport::info() const noexcept {
    return {"transport-file", PluginRole::Transport, "1.0.0", LIVEPATCH_SDK_ABI_VERSION, "file:// mirror for air-gapped machines"};
}

Result<HttpResponse> FileTransport::send(const HttpRequest& request, const CancelToken*) noexcept {
    try {
        auto parts = splitUrl(request.url);
        if (!parts) return parts.error();
        HttpResponse r;
        r.finalUrl = request.url;
        if (request.method == "DELETE") {
            r.status = 204;
            return r;
        }
        auto rel = mirrorPathFor(request.method, parts->second, request.body);
        if (!rel) {
            r.status = 404;
            return r;
        }
        auto file = resolveInside(parts->first, *rel);
        if (!file) {
            if (file.error().code() == ErrorCode::Permission) return file.error();
            r.status = 404;
            return r;
        }
        auto body = readBounded(*file, request.maxResponseBytes);
        if (!body) return body.error();
        r.status = 200;
        r.headers = {{"Content-Type", "application/json"}};
        r.body = std::move(*body);
        return r;
    } catch (const std::exception& e) {
        return Error(ErrorCode::Io, std::string("transport-file: ") + e.what());
    }
}

Result<DownloadResult> FileTransport::download(const DownloadRequest& request, const ProgressCallback& progress,
                                               const CancelToken* cancel) noexcept {
    try {
        auto parts = splitUrl(request.url);
        if (!parts) return parts.error();
        auto rel = mirrorPathFor("GET", parts->second, "");
        if (!rel) return rel.error();
        auto file = resolveInside(parts->first, *rel);
        if (!file) return file.error();
        if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");
        auto data = readBounded(*file, request.maxBytes);
        if (!data) return data.error();
        int fd = ::open(request.destinationPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return Error(ErrorCode::Io, "cannot write " + request.destinationPath + ": " + std::strerror(errno));
        bool ok = ::write(fd, data->data(), data->size()) == static_cast<ssize_t>(data->size());
        ::fsync(fd);
        ::close(fd);
        if (!ok) return Error(ErrorCode::Io, "cannot write " + request.destinationPath);
        if (progress) progress(data->size(), data->size());
        return DownloadResult{data->size(), request.url};
    } catch (const std::exception& e) {
        return Error(ErrorCode::Io, std::string("transport-file: ") + e.what());
    }
}

}  // namespace livepatch::plugins
