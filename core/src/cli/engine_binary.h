// Finding and starting livepatch-agent-engine: exec for CLI commands, and a
// child process with a line protocol for the daemon's jobs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "livepatch/error.h"

namespace livepatch::cli {

// The engine binary, in agentLibDir() (util/layout.h). When we run as root it must pass the same checks as a
// plugin: a regular file (no symlink), owned by root, not writable by group
// or others, in a directory with the same properties.
Result<std::string> locateEngine(bool enforceOwnership);

// Replace this process with the engine running argv (argv[0] is kept as the
// program name). Returns only on failure.
Error execEngine(const std::string& enginePath, const std::vector<std::string>& argv);

// What a worker job reported on its last line:
//   result <exit-code> <error-code-name|ok> <applied 0|1> <message>
struct WorkerOutcome {
    int exitCode = 0;
    std::string errorCode = "ok";
    bool applied = false;
    std::string message;
};
std::string workerResultLine(const WorkerOutcome& outcome);
bool parseWorkerResultLine(const std::string& line, WorkerOutcome& outcome);

// Runs worker jobs one at a time; cancel() sends SIGTERM to the running one
// (the worker cancels its CancelToken and stops at the next safe point).
class WorkerRunner {
public:
    WorkerRunner(std::string enginePath, std::vector<std::string> baseArgs)
        : enginePath_(std::move(enginePath)), baseArgs_(std::move(baseArgs)) {}
    // Runs `<engine> <baseArgs> __worker <job>` with stdin from /dev/null, its
    // stderr (the log) shared with ours, and default signal handling; every
    // "progress ..." line goes to onProgress. A worker that dies without a
    // result line (a crash) is reported as an internal failure.
    WorkerOutcome run(const std::string& job, const std::function<void(const std::string&)>& onProgress);
    void cancel();
    void setEnginePath(std::string path);

private:
    std::mutex mu_;
    std::string enginePath_;
    std::vector<std::string> baseArgs_;
    pid_t running_ = -1;
    bool cancelled_ = false;
};

}  // namespace livepatch::cli
