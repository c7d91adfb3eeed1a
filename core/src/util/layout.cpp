#include "util/layout.h"

#include <limits.h>
#include <unistd.h>

#include <cstdlib>

namespace livepatch {

namespace {
std::string dirOf(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? "." : (pos == 0 ? "/" : path.substr(0, pos));
}
bool endsWith(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

std::string agentLibDir() {
    if (const char* snap = std::getenv("SNAP"); snap && *snap) return std::string(snap) + "/usr/lib/livepatch-agent";
    char buf[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return "/usr/lib/livepatch-agent";
    buf[n] = '\0';
    const std::string exeDir = dirOf(buf);
    if (endsWith(exeDir, "/lib/livepatch-agent")) return exeDir;  // we are the engine binary
    return dirOf(exeDir) + "/lib/livepatch-agent";
}

}  // namespace livepatch
