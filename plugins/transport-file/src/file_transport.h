// transport-file: the v1 protocol served from a directory (see README.md).
#pragma once

#include <livepatch/transport.h>

#include <string>

namespace livepatch::plugins {

// Map a protocol request to a file under the mirror root; Error for an
// unknown endpoint. Pure (no I/O) and tested.
Result<std::string> mirrorPathFor(const std::string& method, const std::string& path, const std::string& body);

class FileTransport : public Transport {
public:
    PluginInfo info() const noexcept override;
    bool supportsScheme(const std::string& scheme) const noexcept override { return scheme == "file"; }
    Result<HttpResponse> send(const HttpRequest& request, const CancelToken* cancel) noexcept override;
    Result<DownloadResult> download(const DownloadRequest& request, const ProgressCallback& progress,
                                    const CancelToken* cancel) noexcept override;
};

}  // namespace livepatch::plugins
