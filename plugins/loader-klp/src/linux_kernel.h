// The real kernel: memfd + finit_module, delete_module, sysfs/procfs under a root.
#pragma once

#include "kernel_interface.h"

namespace livepatch::plugins::klp {

class LinuxKernel : public KernelInterface {
public:
    explicit LinuxKernel(std::string root = "/") : root_(std::move(root)) {}
    int loadModule(std::string_view bytes) override;
    int unloadModule(const std::string& name) override;
    std::optional<std::string> read(const std::string& path) override;
    bool write(const std::string& path, const std::string& value) override;
    bool exists(const std::string& path) override;
    std::vector<std::string> list(const std::string& dir) override;
    std::string release() override;
    std::string machine() override;
    std::string kernelLog() override;

private:
    std::string at(const std::string& path) const { return root_ == "/" ? path : root_ + path; }
    std::string root_;
};

}  // namespace livepatch::plugins::klp
