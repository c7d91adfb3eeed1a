#include "linux_kernel.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace livepatch::plugins::klp {

int LinuxKernel::loadModule(std::string_view bytes) {
    // The verified bytes go into an anonymous memory file: nothing on disk
    // can be swapped in between verification and loading.
    int fd = static_cast<int>(syscall(SYS_memfd_create, "livepatch-module", MFD_CLOEXEC));
    if (fd < 0) return errno;
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            return e;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    int rc = static_cast<int>(syscall(SYS_finit_module, fd, "", 0));
    int e = rc == 0 ? 0 : errno;
    ::close(fd);
    return e;
}

int LinuxKernel::unloadModule(const std::string& name) {
    int rc = static_cast<int>(syscall(SYS_delete_module, name.c_str(), O_NONBLOCK));
    return rc == 0 ? 0 : errno;
}

std::optional<std::string> LinuxKernel::read(const std::string& path) {
    std::ifstream in(at(path));
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

bool LinuxKernel::write(const std::string& path, const std::string& value) {
    int fd = ::open(at(path).c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    ::close(fd);
    return ok;
}

bool LinuxKernel::exists(const std::string& path) {
    struct stat st;
    return ::stat(at(path).c_str(), &st) == 0;
}

std::vector<std::string> LinuxKernel::list(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(at(dir).c_str());
    if (!d) return out;
    while (auto* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    return out;
}

std::string LinuxKernel::release() {
    struct utsname u;
    return ::uname(&u) == 0 ? u.release : "";
}

std::string LinuxKernel::machine() {
    struct utsname u;
    return ::uname(&u) == 0 ? u.machine : "";
}

std::string LinuxKernel::kernelLog() {
    int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, nullptr, 0);
    if (size <= 0) return "";
    std::string buf(static_cast<size_t>(size), '\0');
    int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), size);
    if (n < 0) return "";
    buf.resize(static_cast<size_t>(n));
    return buf;
}

}  // namespace livepatch::plugins::klp
