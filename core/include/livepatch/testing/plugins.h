// livepatch-agent plugin SDK: fake role plugins for tests.
//
// Each is a real plugin of its role. A test registers it where the agent
// registers every plugin (PluginHost::add, the same checks as a loaded
// library), so the code under test finds it exactly as it finds a .so, and
// no test writes its own fake of a role. Header-only; vendors may use them
// in their own tests (a fake loader next to a real verifier, and so on).
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "livepatch/auth.h"
#include "livepatch/loader.h"
#include "livepatch/plugin.h"
#include "livepatch/transport.h"
#include "livepatch/verifier.h"

namespace livepatch::testing {

// A transport that records every request and answers through the test's
// handlers (a fake server); without a handler, send() is a network error
// and download() HTTP 404.
class FakeTransport : public Transport {
public:
    explicit FakeTransport(std::string name = "fake-transport", std::set<std::string> schemes = {"https"})
        : name_(std::move(name)), schemes_(std::move(schemes)) {}
    PluginInfo info() const noexcept override {
        return {name_, PluginRole::Transport, "1", LIVEPATCH_SDK_ABI_VERSION, "test transport"};
    }
    bool supportsScheme(const std::string& scheme) const noexcept override { return schemes_.count(scheme) > 0; }

    Result<HttpResponse> send(const HttpRequest& request, const CancelToken* cancel) noexcept override {
        requests.push_back(request);
        if (!onSend) return Error(ErrorCode::Network, "connection refused");
        return onSend(request, cancel);
    }
    Result<DownloadResult> download(const DownloadRequest& request, const ProgressCallback& progress,
                                    const CancelToken* cancel) noexcept override {
        downloads.push_back(request);
        if (!onDownload) return Error(ErrorCode::HttpStatus, "HTTP 404 from " + request.url + ": Not Found");
        return onDownload(request, progress, cancel);
    }

    // Requests sent with `method`.
    std::size_t count(const std::string& method) const {
        std::size_t n = 0;
        for (const auto& r : requests) n += r.method == method;
        return n;
    }

    std::function<Result<HttpResponse>(const HttpRequest&, const CancelToken*)> onSend;
    std::function<Result<DownloadResult>(const DownloadRequest&, const ProgressCallback&, const CancelToken*)>
        onDownload;
    std::vector<HttpRequest> requests;
    std::vector<DownloadRequest> downloads;

private:
    std::string name_;
    std::set<std::string> schemes_;
};

// An auth plugin whose tokens start with `prefix`: registration and every
// request carry "Bearer <token>" (registration) and "Bearer <machine
// token>" (afterwards). Any other token is "not an auth token".
class FakeAuth : public Auth {
public:
    explicit FakeAuth(std::string name = "auth-token", std::string prefix = "good-")
        : name_(std::move(name)), prefix_(std::move(prefix)) {}
    PluginInfo info() const noexcept override {
        return {name_, PluginRole::Auth, "1", LIVEPATCH_SDK_ABI_VERSION, "test auth"};
    }
    // prefix + "early...": its kind of token but not usable yet, in words
    // that start with "not " (the engine must show them, not take them for
    // "not mine").
    Result<TokenInspection> inspect(const std::string& token) const noexcept override {
        if (token.rfind(prefix_, 0) != 0) return TokenInspection::notMine();
        if (token.rfind(prefix_ + "early", 0) == 0)
            return Error(ErrorCode::TokenInvalid, "not valid before 2030-01-01T00:00:00Z");
        return TokenInspection::mine(TokenInfo{name_, std::nullopt, "auth token"});
    }
    Result<std::string> registrationAuthorization(const std::string& token) const noexcept override {
        return "Bearer " + token;
    }
    Result<Credential> credentialFromRegistration(const std::string&,
                                                  const RegistrationResponse& r) const noexcept override {
        return Credential{name_, r.machineToken.value_or(""), std::nullopt};
    }
    Result<std::string> requestAuthorization(const Credential& c) const noexcept override {
        return "Bearer " + c.secret;
    }

private:
    std::string name_;
    std::string prefix_;
};

// A verifier that accepts exactly the modules whose bytes end with `mark`
// (test modules are "signed" by appending it) and counts its calls.
class FakeVerifier : public Verifier {
public:
    explicit FakeVerifier(std::string name = "fake-verify", std::string mark = "SIGNED")
        : name_(std::move(name)), mark_(std::move(mark)) {}
    PluginInfo info() const noexcept override {
        return {name_, PluginRole::Verifier, "1", LIVEPATCH_SDK_ABI_VERSION, "test verifier"};
    }
    Result<VerifyReport> verify(const ModuleImage& image) noexcept override {
        ++calls;
        const std::string_view b = image.bytes;
        if (b.size() < mark_.size() || b.substr(b.size() - mark_.size()) != mark_)
            return Error(ErrorCode::Unsigned, "module is not signed");
        return VerifyReport{name_, "CN=test", "rsa-sha512", "signed by CN=test"};
    }
    int calls = 0;

private:
    std::string name_;
    std::string mark_;
};

// A kernel in memory behind the loader role, with the rules of the real one
// (and of loader-klp): one module per livepatch name (an enabled one of that
// name counts as already applied), a cumulative patch replaces the others,
// and what list() shows is what the modules declare.
class FakeKernel : public Loader {
public:
    FakeKernel(std::string release, std::string kernel, std::string name = "fake-loader")
        : release(std::move(release)), kernel(std::move(kernel)), name_(std::move(name)) {}
    PluginInfo info() const noexcept override {
        return {name_, PluginRole::Loader, "1", LIVEPATCH_SDK_ABI_VERSION, "test kernel"};
    }
    Result<KernelInfo> probe() noexcept override { return KernelInfo{release, kernel, "x86_64", bootId, true, ""}; }
    Status load(const ModuleImage& image, const PatchSpec& spec, const CancelToken*) noexcept override {
        if (onLoad) onLoad(spec);
        if (failLoad || spec.version == failVersion)
            return Error(ErrorCode::LoadFailed, "the kernel refused the module");
        if (loaded.count(spec.name)) return {};
        if (spec.replace) loaded.clear();
        loaded[spec.name] = spec.version;
        loadedBytes = std::string(image.bytes);
        ++loads;
        if (cancelMidTransition) {
            // What a cancel during the transition wait leaves: the kernel
            // holds the new patch and goes on with the transition.
            transitioning.insert(spec.name);
            return Error(ErrorCode::Cancelled, "cancelled while waiting for the transition");
        }
        return {};
    }
    Status unload(const std::string& patch, const CancelToken*) noexcept override {
        loaded.erase(patch);
        if (onUnload) onUnload(patch);
        return {};
    }
    Result<std::vector<LoadedPatch>> list() noexcept override {
        std::vector<LoadedPatch> v;
        for (const auto& p : loaded)
            v.push_back({p.first, declaresVersion ? p.second : "", true, transitioning.count(p.first) > 0});
        return v;
    }
    Result<KernelHealth> health() noexcept override { return healthNow; }

    std::string release;  // uname -r
    std::string kernel;   // version signature
    std::string bootId = "boot-1";
    std::map<std::string, std::string> loaded;  // livepatch name -> version
    std::set<std::string> transitioning;
    bool declaresVersion = true;  // the modules carry a version in .modinfo
    std::string loadedBytes;      // the last module the kernel took
    KernelHealth healthNow;
    bool failLoad = false;
    bool cancelMidTransition = false;
    std::string failVersion;  // refuse only this version
    int loads = 0;
    std::function<void(const PatchSpec&)> onLoad;
    std::function<void(const std::string&)> onUnload;

private:
    std::string name_;
};

}  // namespace livepatch::testing
