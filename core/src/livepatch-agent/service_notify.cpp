#include "livepatch-agent/service_notify.h"

#include <systemd/sd-daemon.h>

#include "livepatch/text.h"

namespace livepatch::agent {

void notifyReady(const std::string& status) { (void)sd_notify(0, ("READY=1\nSTATUS=" + oneLine(status)).c_str()); }

void notifyStatus(const std::string& status) { (void)sd_notify(0, ("STATUS=" + oneLine(status)).c_str()); }

void notifyStopping() { (void)sd_notify(0, "STOPPING=1"); }

}  // namespace livepatch::agent
