// livepatch-agent: the Poco Util application behind the CLI and the daemon.
#pragma once

#include <Poco/Util/Application.h>
#include <Poco/Util/OptionSet.h>

#include <optional>
#include <string>
#include <vector>

namespace livepatch::app {

class AgentApplication : public Poco::Util::Application {
public:
    AgentApplication();

protected:
    void defineOptions(Poco::Util::OptionSet& options) override;
    void handleOption(const std::string& name, const std::string& value) override;
    int main(const std::vector<std::string>& args) override;

private:
    void handleHelp(const std::string& name, const std::string& value);
    bool helpRequested_ = false;
    std::string format_ = "humane";
    bool verbose_ = false;
    bool showSecrets_ = false;
    bool allowRollback_ = false;
    std::optional<std::string> rootDir_;
};

// Turn "--opt value" into "--opt=value" for options that take a value, so
// both spellings work with Poco's option processor.
std::vector<std::string> normalizeArguments(const std::vector<std::string>& args);

// Entry point used by main(): returns the process exit code.
int runAgent(int argc, char** argv);

}  // namespace livepatch::app
