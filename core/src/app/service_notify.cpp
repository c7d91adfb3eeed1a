#include "app/service_notify.h"

#include <systemd/sd-daemon.h>

namespace livepatch::app {

namespace {
std::string oneLine(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}
}  // namespace

void notifyReady(const std::string& status) { (void)sd_notify(0, ("READY=1\nSTATUS=" + oneLine(status)).c_str()); }

void notifyStatus(const std::string& status) { (void)sd_notify(0, ("STATUS=" + oneLine(status)).c_str()); }

void notifyStopping() { (void)sd_notify(0, "STOPPING=1"); }

}  // namespace livepatch::app
