#include "logging/systemd_api.h"

#include <dlfcn.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include <mutex>

namespace livepatch::systemd {

namespace {

struct Api {
    decltype(&::sd_journal_sendv) journalSendv = nullptr;
    decltype(&::sd_notify) notify = nullptr;
};

const Api& api() noexcept {
    static Api loaded;
    static std::once_flag once;
    std::call_once(once, [] {
        // The soname libsystemd0 ships; RTLD_LOCAL keeps its symbols out of
        // the plugins' way. Never unloaded: the journal client keeps state.
        void* handle = ::dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!handle) return;
        loaded.journalSendv = reinterpret_cast<decltype(&::sd_journal_sendv)>(::dlsym(handle, "sd_journal_sendv"));
        loaded.notify = reinterpret_cast<decltype(&::sd_notify)>(::dlsym(handle, "sd_notify"));
    });
    return loaded;
}

}  // namespace

bool journalSend(const struct iovec* iov, int count) noexcept {
    const Api& a = api();
    return a.journalSendv && a.journalSendv(iov, count) == 0;
}

void notify(const std::string& state) noexcept {
    if (const Api& a = api(); a.notify) (void)a.notify(0, state.c_str());
}

}  // namespace livepatch::systemd
