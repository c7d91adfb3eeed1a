// What loader-klp needs from a Linux kernel, behind an interface so tests
// can drive the state machine with a fake kernel.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace livepatch::plugins::klp {

class KernelInterface {
public:
    virtual ~KernelInterface() = default;
    // finit_module(2) of exactly these bytes; 0 or an errno.
    virtual int loadModule(std::string_view bytes) = 0;
    // delete_module(2) with O_NONBLOCK; 0 or an errno.
    virtual int unloadModule(const std::string& name) = 0;
    // Files under the kernel's /sys and /proc (absolute paths like "/sys/kernel/livepatch").
    virtual std::optional<std::string> read(const std::string& path) = 0;
    virtual bool write(const std::string& path, const std::string& value) = 0;
    virtual bool exists(const std::string& path) = 0;
    virtual std::vector<std::string> list(const std::string& dir) = 0;
    virtual std::string release() = 0;    // uname -r
    virtual std::string machine() = 0;    // uname -m
    virtual std::string kernelLog() = 0;  // syslog buffer
};

}  // namespace livepatch::plugins::klp
