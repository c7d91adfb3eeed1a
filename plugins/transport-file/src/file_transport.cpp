#include "file_transport.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <livepatch/download_file.h>
#include <livepatch/url.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/URI.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <regex>

namespace livepatch::plugins {

namespace {

// The protocol path of a request ("/v1/..."). The URL must lie under the
// configured mirror root: an offer URL like file:///srv/mirror/../../tmp/v1/x
// used to make the root whatever came before "/v1/".
Result<std::string> protocolPath(const std::string& url, const std::optional<std::string>& configuredRoot) {
    if (!configuredRoot)
        return Error(ErrorCode::ConfigInvalid, "transport-file: remote-server is not a file:/// mirror");
    const std::string& root = *configuredRoot;
    try {
        Poco::URI u(url);
        if (u.getScheme() != "file" || !u.getHost().empty())
            return Error(ErrorCode::InvalidArgument, "expected a file:/// URL");
        const std::string p = u.getPath();
        const std::string rest = p.compare(0, root.size(), root) == 0 ? p.substr(root.size()) : std::string();
        if (rest.rfind("/v1/", 0) != 0 && rest.rfind("/metadata/", 0) != 0 && rest.rfind("/targets/", 0) != 0)
            return Error(ErrorCode::Permission, "file URL " + displayUrl(url) + " is not under the mirror root " +
                                                    (root.empty() ? "/" : root));
        return p.substr(root.size());
    } catch (...) {
        return Error(ErrorCode::InvalidArgument, "invalid file URL");
    }
}

int openat2Beneath(int dirfd, const std::string& rel) {
    struct open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;  // O_NONBLOCK: a planted FIFO fails instead of blocking
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

// Without openat2 (kernels before 5.6): one component at a time, never
// following a symlink and never "..", so nothing can lead out of dirfd.
int componentWalk(int dirfd, const std::string& rel) {
    int cur = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    size_t start = 0;
    while (cur >= 0) {
        const size_t slash = rel.find('/', start);
        const std::string part = rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part.empty() || part == "." || part == "..") {
            ::close(cur);
            errno = EXDEV;
            return -1;
        }
        const bool last = slash == std::string::npos;
        const int flags =
            last ? O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK : O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW;
        const int next = ::openat(cur, part.c_str(), flags);
        const int err = errno;
        ::close(cur);
        if (next < 0) {
            // O_PATH|O_NOFOLLOW on a symlink gives ENOTDIR with O_DIRECTORY.
            errno = (err == ENOTDIR || err == ELOOP) ? ELOOP : err;
            return -1;
        }
        if (last) return next;
        cur = next;
        start = slash + 1;
    }
    return -1;
}

}  // namespace

Result<int> openInMirror(const std::string& root, const std::string& rel, MirrorOpen how) {
    const std::string shownRoot = root.empty() ? "/" : root;
    const int dirfd = ::open(shownRoot.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return Error(ErrorCode::NotFound, "mirror " + shownRoot + " does not exist");
    int fd = how == MirrorOpen::Openat2 ? openat2Beneath(dirfd, rel) : -1;
    if (how == MirrorOpen::ComponentWalk || (fd < 0 && errno == ENOSYS)) fd = componentWalk(dirfd, rel);
    const int err = errno;
    ::close(dirfd);
    if (fd < 0) {
        if (err == EXDEV || err == ELOOP)
            return Error(ErrorCode::Permission, "mirror entry " + rel + " leads outside the mirror");
        if (err == ENOENT || err == ENOTDIR) return Error(ErrorCode::NotFound, "mirror has no " + rel);
        return Error(ErrorCode::Io, "cannot read mirror entry " + rel + ": " + std::strerror(err));
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return Error(ErrorCode::NotFound, "mirror entry " + rel + " is not a file");
    }
    return fd;
}

namespace {

// Reads and closes fd.
Result<std::string> readBounded(int fd, const std::string& name, std::uint64_t max) {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > max) {
            ::close(fd);
            return Error(ErrorCode::TooLarge, name + " is larger than " + std::to_string(max) + " bytes");
        }
    }
    const int err = errno;
    ::close(fd);
    if (n < 0) return Error(ErrorCode::Io, "cannot read " + name + ": " + std::strerror(err));
    return out;
}

// Stream `from` into the download destination (livepatch/download_file.h:
// 0600, never through a symlink or into a FIFO, synced) in 1 MiB steps:
// bounded memory whatever the patch size, progress and cancellation between
// steps. Takes over `in` (open mirror entry `from`).
Result<DownloadResult> copyFile(int in, const std::string& from, const DownloadRequest& request,
                                const ProgressCallback& progress, const CancelToken* cancel) {
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closeIn{in};
    struct stat st;
    if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode))
        return Error(ErrorCode::NotFound, "mirror entry " + from + " is not a file");
    const auto total = static_cast<std::uint64_t>(st.st_size);
    if (request.maxBytes && total > request.maxBytes)
        return Error(ErrorCode::TooLarge, from + " is larger than " + std::to_string(request.maxBytes) + " bytes");
    auto out = DownloadFile::open(request.destinationPath, DownloadFile::Start::Fresh);
    if (!out) return out.error();
    std::unique_ptr<char[]> buf(new char[1 << 20]);
    std::uint64_t done = 0;
    for (;;) {
        if (cancel && cancel->cancelled()) return Error(ErrorCode::Cancelled, "cancelled");
        ssize_t n = ::read(in, buf.get(), 1 << 20);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error(ErrorCode::Io, "cannot read " + from + ": " + std::strerror(errno));
        if (n == 0) break;
        done += static_cast<std::uint64_t>(n);
        if (request.maxBytes && done > request.maxBytes)  // the file grew while we copied
            return Error(ErrorCode::TooLarge, from + " is larger than " + std::to_string(request.maxBytes) + " bytes");
        LP_TRY(out->write(buf.get(), static_cast<std::size_t>(n)));
        if (progress) progress(done, total);
    }
    LP_TRY(out->finish());
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
            const std::string kernel = o->getValue<std::string>("kernel"),
                              arch = o->getValue<std::string>("architecture");
            if (!std::regex_match(kernel, safe) || !std::regex_match(arch, safe) ||
                kernel.find("..") != std::string::npos)
                return Error(ErrorCode::InvalidArgument, "kernel or architecture not usable as a mirror path");
            return "v1/updates/" + kernel + "/" + arch + ".json";
        } catch (...) {
            return Error(ErrorCode::InvalidArgument, "updates request without kernel/architecture");
        }
    }
    if (method == "GET" && std::regex_match(path, m, patch)) return "v1/patches/" + m[1].str();
    // A TUF repository as livepatch-repo writes it (metadata/, targets/<kernel>/<arch>/<hash>.<file>), at the
    // mirror root (source-type=static) or under v1/tuf/ (beside the protocol files); no segment starts with
    // ".", so none is "." or "..".
    static const std::regex tuf(
        "^/((v1/tuf/)?(metadata/[A-Za-z0-9_%+-][A-Za-z0-9._%+-]{0,199}|"
        "targets(/[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,199}){1,4}))$");
    if (method == "GET" && std::regex_match(path, m, tuf)) return m[1].str();
    return Error(ErrorCode::NotFound, "the mirror does not serve " + method + " " + path);
}

Status FileTransport::configure(const PluginContext& ctx) noexcept {
    try {
        // The one mirror this machine uses; every request must lie under it.
        const std::string server = ctx.config->value("remote-server");
        root_.reset();
        if (server.rfind("file://", 0) != 0) return {};
        std::string root = Poco::URI(server).getPath();
        while (!root.empty() && root.back() == '/') root.pop_back();
        if ((root + "/").find("/../") != std::string::npos || (root + "/").find("/./") != std::string::npos)
            return Error(ErrorCode::ConfigInvalid,
                         "transport-file: the mirror root " + root + " must not contain . or ..");
        root_ = root;
        return {};
    } catch (const std::exception& e) {
        return Error(ErrorCode::ConfigInvalid, std::string("transport-file: ") + e.what());
    }
}

PluginInfo FileTransport::info() const noexcept {
    return {"transport-file", PluginRole::Transport, "1.0.0", LIVEPATCH_SDK_ABI_VERSION,
            "file:// mirror for air-gapped machines"};
}

Result<HttpResponse> FileTransport::send(const HttpRequest& request, const CancelToken*) noexcept {
    try {
        auto path = protocolPath(request.url, root_);
        if (!path) return path.error();
        HttpResponse r;
        r.finalUrl = request.url;
        if (request.method == "DELETE") {
            r.status = 204;
            return r;
        }
        auto rel = mirrorPathFor(request.method, *path, request.body);
        if (!rel) {
            r.status = 404;
            return r;
        }
        auto fd = openInMirror(*root_, *rel);
        if (!fd) {
            if (fd.error().code() != ErrorCode::NotFound) return fd.error();
            r.status = 404;
            return r;
        }
        auto body = readBounded(*fd, *rel, request.maxResponseBytes);
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
        auto path = protocolPath(request.url, root_);
        if (!path) return path.error();
        auto rel = mirrorPathFor("GET", *path, "");
        if (!rel) return rel.error();
        auto fd = openInMirror(*root_, *rel);
        if (!fd) return fd.error();
        return copyFile(*fd, *rel, request, progress, cancel);
    } catch (const std::exception& e) {
        return Error(ErrorCode::Io, std::string("transport-file: ") + e.what());
    }
}

}  // namespace livepatch::plugins
