// livepatch-agent plugin SDK: the one error type.
//
// Every failure in the agent and its plugins is an Error: a stable machine
// code (never renumbered, safe to match on in scripts) and a one-line human
// message. Messages must never contain a secret (token, key, machine-id):
// plugins describe *which* input was bad, not its value.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace livepatch {

// Stable codes. Append only; never renumber or reuse a value.
enum class ErrorCode : int {
    Ok = 0,
    InvalidArgument = 1,     // bad command-line input
    ConfigInvalid = 2,       // a config key or value failed validation
    StateCorrupt = 3,        // a state file failed its integrity check
    Io = 4,                  // filesystem error
    Permission = 5,          // not root, wrong owner/mode, symlink refused
    NotEnabled = 6,          // machine is not enabled yet
    AlreadyEnabled = 7,      // enable while enabled with another token
    TokenInvalid = 8,        // token malformed, expired or refused
    Network = 9,             // DNS, connect, reset, proxy failure
    Tls = 10,                // certificate, hostname, protocol version, pin
    Timeout = 11,            // dial timeout or overall deadline exceeded
    HttpStatus = 12,         // server answered with an error status
    Protocol = 13,           // malformed or unexpected server response
    ChecksumMismatch = 14,   // download does not match the announced SHA-256
    SignatureInvalid = 15,   // signature present but does not verify
    Unsigned = 16,           // no signature found
    UntrustedSigner = 17,    // signature valid but signer not trusted
    UnsafeArchive = 18,      // archive entry escapes, is a device, bomb, ...
    Rollback = 19,           // patch version lower than the applied one
    LoadFailed = 20,         // kernel refused the module
    TransitionStalled = 21,  // livepatch transition did not complete
    Unsupported = 22,        // kernel or feature unsupported
    PluginInvalid = 23,      // plugin refused by the host
    NotFound = 24,           // requested thing does not exist
    Cancelled = 25,          // stopped by signal or caller
    Busy = 26,               // another operation holds the lock / EBUSY
    Internal = 27,           // bug: should never happen
    InsecureRefused = 28,    // plain http or downgrade refused by policy
    TooLarge = 29,           // response, file or archive over a size limit
    CrashGuard = 30,         // crash-safety guard prevents automatic load
    DaemonUnavailable = 31,  // cannot reach the agent daemon
    PolicyRefused = 32,      // cutoff-date, patch-delay, run mode, no verifier
    Stale = 33,              // signed catalogue expired: possible freeze attack
};

// Stable, kebab-case name of a code ("checksum-mismatch").
inline const char* errorCodeName(ErrorCode code) noexcept {
    switch (code) {
    case ErrorCode::Ok: return "ok";
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::ConfigInvalid: return "config-invalid";
    case ErrorCode::StateCorrupt: return "state-corrupt";
    case ErrorCode::Io: return "io";
    case ErrorCode::Permission: return "permission";
    case ErrorCode::NotEnabled: return "not-enabled";
    case ErrorCode::AlreadyEnabled: return "already-enabled";
    case ErrorCode::TokenInvalid: return "token-invalid";
    case ErrorCode::Network: return "network";
    case ErrorCode::Tls: return "tls";
    case ErrorCode::Timeout: return "timeout";
    case ErrorCode::HttpStatus: return "http-status";
    case ErrorCode::Protocol: return "protocol";
    case ErrorCode::ChecksumMismatch: return "checksum-mismatch";
    case ErrorCode::SignatureInvalid: return "signature-invalid";
    case ErrorCode::Unsigned: return "unsigned";
    case ErrorCode::UntrustedSigner: return "untrusted-signer";
    case ErrorCode::UnsafeArchive: return "unsafe-archive";
    case ErrorCode::Rollback: return "rollback";
    case ErrorCode::LoadFailed: return "load-failed";
    case ErrorCode::TransitionStalled: return "transition-stalled";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::PluginInvalid: return "plugin-invalid";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Busy: return "busy";
    case ErrorCode::Internal: return "internal";
    case ErrorCode::InsecureRefused: return "insecure-refused";
    case ErrorCode::TooLarge: return "too-large";
    case ErrorCode::CrashGuard: return "crash-guard";
    case ErrorCode::DaemonUnavailable: return "daemon-unavailable";
    case ErrorCode::PolicyRefused: return "policy-refused";
    case ErrorCode::Stale: return "stale";
    }
    return "unknown";
}

class Error {
public:
    Error() = default;
    Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

    ErrorCode code() const noexcept { return code_; }
    const std::string& message() const noexcept { return message_; }
    const char* codeName() const noexcept { return errorCodeName(code_); }

    // "checksum-mismatch: patch.tar.xz: SHA-256 does not match the server's"
    std::string describe() const { return std::string(codeName()) + ": " + message_; }

    // Prefix context: Error(Io, "x").wrap("saving state") -> "saving state: x".
    Error wrap(const std::string& context) const { return Error(code_, context + ": " + message_); }

private:
    ErrorCode code_ = ErrorCode::Internal;
    std::string message_;
};

// Result<T>: a value or an Error. No exceptions cross the plugin boundary;
// SDK entry points return Result/Status and are noexcept.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT(implicit)
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(implicit)

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(implicit)

    bool ok() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const Error& error() const& { return error_; }

private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

// Internal convenience for code that prefers exceptions (core only; never let
// one escape through a plugin entry point).
class ErrorException : public std::exception {
public:
    explicit ErrorException(Error e) : error_(std::move(e)), what_(error_.describe()) {}
    const Error& error() const noexcept { return error_; }
    const char* what() const noexcept override { return what_.c_str(); }

private:
    Error error_;
    std::string what_;
};

}  // namespace livepatch

// Early-return helpers: LP_TRY(status_expr); LP_ASSIGN(var, result_expr);
#define LP_TRY(expr)                                             \
    do {                                                         \
        auto lp_try_result_ = (expr);                            \
        if (!lp_try_result_.ok()) return lp_try_result_.error(); \
    } while (0)
