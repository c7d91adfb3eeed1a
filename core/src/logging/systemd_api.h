// libsystemd, loaded the first time it is needed.
//
// Linking it put libsystemd and its six dependencies (libgcrypt, libcap,
// liblzma, libzstd, liblz4, libgpg-error) into every start of
// livepatch-agent, though only the daemon (sd_notify) and journal logging
// use it: `status` paid for their relocations (tests/bench/RESULTS.md,
// issue 18). The prototypes are libsystemd's own headers; where
// libsystemd.so.0 is missing, journal logging falls back to syslog or the
// terminal and notifications are not sent (as with no NOTIFY_SOCKET).
#pragma once

#include <sys/uio.h>

#include <string>

namespace livepatch::systemd {

// sd_journal_sendv: false if libsystemd is missing or the journal refused.
bool journalSend(const struct iovec* iov, int count) noexcept;

// sd_notify(0, state): nothing happens without libsystemd.
void notify(const std::string& state) noexcept;

}  // namespace livepatch::systemd
