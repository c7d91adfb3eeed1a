#include "cli/engine_binary.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "cli/exit_codes.h"
#include "livepatch/text.h"
#include "util/fs.h"
#include "util/layout.h"

extern char** environ;

namespace livepatch::cli {

namespace {

constexpr const char* kEngineName = "livepatch-agent-engine";

std::vector<char*> cArgv(std::vector<std::string>& args) {
    std::vector<char*> out;
    for (auto& a : args) out.push_back(a.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

Result<std::string> locateEngine(bool enforceOwnership) {
    const std::string path = agentLibDir() + "/" + kEngineName;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0)
        return Error(ErrorCode::NotFound, std::string("the engine binary ") + path + " is missing (" +
                                              std::strerror(errno) + "); reinstall livepatch-agent");
    if (!S_ISREG(st.st_mode))
        return Error(ErrorCode::Permission, "the engine binary " + path + " is not a regular file");
    if (enforceOwnership) {
        // The binary and every directory above it: with all of them
        // root-only, nobody else can swap what the daemon later spawns by
        // this path.
        auto fd = fs::openRootOnly(path, "the binary", ErrorCode::Permission);
        if (!fd) return fd.error().wrap("refusing to run " + path + " as root");
    }
    return path;
}

Error execEngine(const std::string& enginePath, const std::vector<std::string>& argv) {
    std::vector<std::string> args = argv;
    if (args.empty()) args.push_back("livepatch-agent");
    auto c = cArgv(args);
    if (::geteuid() == 0) {
        // Checked and run through one descriptor: exactly the checked file.
        auto fd = fs::openRootOnly(enginePath, "the binary", ErrorCode::Permission);
        if (!fd) return fd.error().wrap("refusing to run " + enginePath + " as root");
        ::fexecve(fd->get(), c.data(), environ);
    } else {
        ::execv(enginePath.c_str(), c.data());
    }
    return Error(ErrorCode::Internal, "cannot run " + enginePath + ": " + std::strerror(errno));
}

std::string workerResultLine(const WorkerOutcome& o) {
    const std::string msg = oneLine(o.message, std::string::npos);  // one protocol line, not cut
    return "result " + std::to_string(o.exitCode) + " " + (o.errorCode.empty() ? "ok" : o.errorCode) + " " +
           (o.applied ? "1" : "0") + " " + msg;
}

bool parseWorkerResultLine(const std::string& line, WorkerOutcome& o) {
    std::istringstream in(line);
    std::string word, applied;
    if (!(in >> word >> o.exitCode >> o.errorCode >> applied) || word != "result") return false;
    if (applied != "0" && applied != "1") return false;
    o.applied = applied == "1";
    std::getline(in, o.message);
    if (!o.message.empty() && o.message[0] == ' ') o.message.erase(0, 1);
    return true;
}

void WorkerRunner::setEnginePath(std::string path) {
    std::lock_guard<std::mutex> lock(mu_);
    enginePath_ = std::move(path);
}

void WorkerRunner::cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    if (running_ > 0) ::kill(running_, SIGTERM);
}

WorkerOutcome WorkerRunner::run(const std::string& job, const std::function<void(const std::string&)>& onProgress) {
    auto internal = [](const std::string& why) {
        WorkerOutcome o;
        o.exitCode = kExitFailure;
        o.errorCode = "internal";
        o.message = why;
        return o;
    };
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return internal(std::string("cannot create a pipe: ") + std::strerror(errno));
    std::vector<std::string> args;
    args.push_back("livepatch-agent");
    args.insert(args.end(), baseArgs_.begin(), baseArgs_.end());
    args.push_back("__worker");
    args.push_back(job);
    auto c = cArgv(args);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);  // the daemon blocks them; the worker must not inherit that
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    pid_t pid = -1;
    int rc;
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (cancelled_) {
            rc = ECANCELED;
        } else {
            rc = ::posix_spawn(&pid, enginePath_.c_str(), &actions, &attr, c.data(), environ);
            if (rc == 0) running_ = pid;
        }
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        if (rc == ECANCELED) {
            WorkerOutcome o = internal("stopping");
            o.errorCode = "cancelled";
            return o;
        }
        return internal("cannot start " + enginePath_ + ": " + std::strerror(rc));
    }

    WorkerOutcome outcome;
    bool haveResult = false;
    std::string pending;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pending.append(buf, static_cast<size_t>(n));
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::string line = pending.substr(0, nl);
            pending.erase(0, nl + 1);
            if (line.rfind("progress ", 0) == 0) {
                if (onProgress) onProgress(line);
            } else if (parseWorkerResultLine(line, outcome)) {
                haveResult = true;
            }
        }
        if (pending.size() > 65536) pending.clear();  // a runaway line is not ours
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        running_ = -1;
    }
    if (haveResult) return outcome;
    bool stopping;
    {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = cancelled_;
    }
    if (stopping) {
        // We asked it to stop: ending before it wrote a result is expected.
        WorkerOutcome o = internal("stopped with the daemon");
        o.errorCode = "cancelled";
        return o;
    }
    if (WIFSIGNALED(status))
        return internal("the engine worker (" + job + ") was killed by signal " + std::to_string(WTERMSIG(status)) +
                        "; nothing was recorded for this run");
    return internal("the engine worker (" + job + ") exited with code " + std::to_string(WEXITSTATUS(status)) +
                    " without a result");
}

}  // namespace livepatch::cli
