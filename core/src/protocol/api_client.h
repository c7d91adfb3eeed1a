// The agent side of the v1 protocol (schemas/api/README.md), over whatever
// Transport plugin handles the server's scheme. Server bodies are parsed
// strictly; an error response becomes one line (status, URL, reason), never
// the body.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "livepatch/auth.h"
#include "livepatch/error.h"
#include "livepatch/transport.h"
#include "package/patch_package.h"
#include "state/agent_state.h"

namespace livepatch {

struct PatchOffer {
    std::string version;
    std::string name;
    std::string filename;
    std::string url;     // absolute (resolved)
    std::string sha256;  // 64 lowercase hex
    std::uint64_t size = 0;
    std::string published;  // RFC 3339
    bool replace = true;
    std::vector<PatchFix> fixes;
};

struct UpdatesAnswer {
    bool notModified = false;
    std::string etag;
    KernelSupport supported = KernelSupport::Unknown;
    std::string upgradeRequiredDate;
    std::string tier;
    std::vector<PatchOffer> patches;
};

class ApiClient {
public:
    ApiClient(Transport* transport, std::string baseUrl, std::string machineId);

    Result<RegistrationResponse> registerMachine(const std::string& authorization, const std::string& requestJson,
                                                 const CancelToken* cancel);
    Status deregister(const std::string& authorization, const CancelToken* cancel);
    Result<UpdatesAnswer> updates(const std::string& authorization, const std::string& reportJson,
                                  const std::string& etag, const CancelToken* cancel);
    Result<DownloadResult> download(const PatchOffer& offer, const std::string& authorization,
                                    const std::string& destination, std::uint64_t maxBytes,
                                    const ProgressCallback& progress, const CancelToken* cancel);

    // Resolve a possibly relative URL against the base URL.
    std::string resolve(const std::string& url) const;
    // URL safe to print: no userinfo, no query.
    static std::string displayUrl(const std::string& url);

    // Parse an updates response body (exposed for tests and fuzzing).
    static Result<UpdatesAnswer> parseUpdates(const std::string& body, const std::string& baseUrl);

private:
    Error httpError(const HttpResponse& response, const std::string& url) const;
    Transport* transport_;
    std::string baseUrl_;
    std::string machineId_;
};

}  // namespace livepatch
