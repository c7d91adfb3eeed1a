// transport-file: the v1 protocol served from a directory (see README.md).
#pragma once

#include <livepatch/transport.h>

#include <optional>
#include <string>

namespace livepatch::plugins {

// Map a protocol request to a file under the mirror root; Error for an
// unknown endpoint. Pure (no I/O) and tested.
Result<std::string> mirrorPathFor(const std::string& method, const std::string& path, const std::string& body);

// How a mirror entry is opened: openat2(RESOLVE_BENEATH), where the kernel
// keeps every step of the resolution under the root (symlinks inside the
// mirror work, none leads out, a symlink swapped in mid-way cannot either);
// or, where openat2 is missing (ENOSYS), a component walk with O_NOFOLLOW
// (no symlink followed at all). Returns an open regular file.
enum class MirrorOpen { Openat2, ComponentWalk };
Result<int> openInMirror(const std::string& root, const std::string& rel, MirrorOpen how = MirrorOpen::Openat2);

class FileTransport : public Transport {
public:
    // Reads remote-server: the mirror root. Requests outside it are refused.
    Status configure(const PluginContext& ctx) noexcept override;
    PluginInfo info() const noexcept override;
    bool supportsScheme(const std::string& scheme) const noexcept override { return scheme == "file"; }
    Result<HttpResponse> send(const HttpRequest& request, const CancelToken* cancel) noexcept override;
    Result<DownloadResult> download(const DownloadRequest& request, const ProgressCallback& progress,
                                    const CancelToken* cancel) noexcept override;

private:
    std::optional<std::string> root_;  // mirror root path, no trailing '/'; none: remote-server is not file://
};

}  // namespace livepatch::plugins
