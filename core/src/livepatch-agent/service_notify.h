// Tells the service manager where the daemon is (sd_notify, Type=notify):
// READY once the cached patch has been re-applied (so units ordered after
// livepatch-agent, and network-online.target, start with the patch in
// place), STOPPING when it shuts down, and a STATUS line for
// `systemctl status`. Without $NOTIFY_SOCKET (snap, tests, foreground) each
// call does nothing.
#pragma once

#include <string>

namespace livepatch::agent {

void notifyReady(const std::string& status);
void notifyStatus(const std::string& status);
void notifyStopping();

}  // namespace livepatch::agent
