#include "livepatch-agent/service_notify.h"

#include "livepatch/text.h"
#include "logging/systemd_api.h"

namespace livepatch::agent {

void notifyReady(const std::string& status) { systemd::notify("READY=1\nSTATUS=" + oneLine(status)); }

void notifyStatus(const std::string& status) { systemd::notify("STATUS=" + oneLine(status)); }

void notifyStopping() { systemd::notify("STOPPING=1"); }

}  // namespace livepatch::agent
