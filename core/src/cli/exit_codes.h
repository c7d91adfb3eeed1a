// Exit codes of livepatch-agent (documented in --help and the README).
#pragma once

#include "livepatch/error.h"

namespace livepatch::cli {

enum ExitCode : int {
    kExitOk = 0,
    kExitFailure = 1,     // general failure; status: not enabled; kernel-upgrade-required: upgrade needed
    kExitUsage = 2,       // bad arguments or invalid config value
    kExitPermission = 3,  // needs root / permission refused
    kExitDaemonUnavailable = 4,
    kExitNetwork = 5,       // network, TLS, timeout, HTTP error from the server
    kExitVerification = 6,  // checksum, signature, unsafe archive, policy refusal
    kExitLoad = 7,          // kernel refused the patch / transition stalled
    kExitStateCorrupt = 8,
    kExitStale = 9,  // signed catalogue expired (TUF freeze check): not "nothing to apply"
};

inline int exitCodeFor(ErrorCode code) {
    switch (code) {
    case ErrorCode::Ok: return kExitOk;
    case ErrorCode::InvalidArgument:
    case ErrorCode::ConfigInvalid:
    case ErrorCode::TokenInvalid: return kExitUsage;
    case ErrorCode::Permission: return kExitPermission;
    case ErrorCode::DaemonUnavailable: return kExitDaemonUnavailable;
    case ErrorCode::Network:
    case ErrorCode::Tls:
    case ErrorCode::Timeout:
    case ErrorCode::HttpStatus:
    case ErrorCode::Protocol:
    case ErrorCode::InsecureRefused:
    case ErrorCode::TooLarge: return kExitNetwork;
    case ErrorCode::ChecksumMismatch:
    case ErrorCode::SignatureInvalid:
    case ErrorCode::Unsigned:
    case ErrorCode::UntrustedSigner:
    case ErrorCode::UnsafeArchive:
    case ErrorCode::Rollback:
    case ErrorCode::PolicyRefused: return kExitVerification;
    case ErrorCode::LoadFailed:
    case ErrorCode::TransitionStalled:
    case ErrorCode::CrashGuard: return kExitLoad;
    case ErrorCode::StateCorrupt: return kExitStateCorrupt;
    case ErrorCode::Stale: return kExitStale;
    default: return kExitFailure;
    }
}

}  // namespace livepatch::cli
