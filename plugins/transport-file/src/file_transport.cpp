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
#include <memory>
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

// Stream `from` into the download destination (0600, never through a
// symlink) in 1 MiB steps: bounded memory whatever the patch size, progress
// and cancellation between steps, every write and the fsync checked.
Result<DownloadResult> copyFile(const std::string& from, const DownloadRequest& request, const ProgressCallback& progress,
                                const CancelToken* cancel) {
    int in = ::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return Error(ErrorCode::Io, "cannot read " + from + ": " + std::strerror(errno));
    struct stat st;
    if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(in);
        return Error(ErrorCode::NotFound, "mirror entry " + from + " is not a file");
    }
    const auto total = static_cast<std::uint64_t>(st.st_size);
    if (request.maxBytes && total > request.maxBytes) {
        ::close(in);
        return Error(ErrorCode::TooLarge, from + " is larger than " + std::to_string(request.maxBytes) + " bytes");
    }
    int out = ::open(request.destinationPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (out < 0) {
        int err = errno;
        ::close(in);
        return Error(ErrorCode::Io, "cannot write " + request.destinationPath + ": " + std::strerror(err));
    }
    auto finish = [&](Error e) -> Result<DownloadResult> {
        ::close(in);
        ::close(out);
        return e;
    };
    std::unique_ptr<char[]> buf(new char[1 << 20]);
    std::uint64_t done = 0;
    for (;;) {
        if (cancel && cancel->cancelled()) return finish(Error(ErrorCode::Cancelled, "cancelled"));
        ssize_t n = ::read(in, buf.get(), 1 << 20);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return finish(Error(ErrorCode::Io, "cannot read " + from + ": " + std::strerror(errno)));
        if (n == 0) break;
        done += static_cast<std::uint64_t>(n);
        if (request.maxBytes && done > request.maxBytes)  // the file grew while we copied
            return finish(Error(ErrorCode::TooLarge, from + " is larger than " + std::to_string(request.maxBytes) + " bytes"));
        for (ssize_t off = 0; off < n;) {
            ssize_t w = ::write(out, buf.get() + off, static_cast<size_t>(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return finish(Error(ErrorCode::Io, "cannot write " + request.destinationPath + ": " + std::strerror(errno)));
            off += w;
        }
        if (progress) progress(done, total);
    }
    if (::fsync(out) != 0) return finish(Error(ErrorCode::Io, "cannot sync " + request.destinationPath + ": " + std::strerror(errno)));
    ::close(in);
    if (::close(out) != 0) return Error(ErrorCode::Io, "cannot write " + request.destinationPath + ": " + std::strerror(errno));
    return DownloadResult{done, request.url};
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
        return copyFile(*file, request, progress, cancel);
    } catch (const std::exception& e) {
        return Error(ErrorCode::Io, std::string("transport-file: ") + e.what());
    }
}

}  // namespace livepatch::plugins
