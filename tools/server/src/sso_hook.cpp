#include "sso_hook.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <thread>
#include <vector>

#include "admin_auth.h"
#include "livepatch/trusted_files.h"
#include "util/fs.h"

namespace lpserver {

using livepatch::Error;
using livepatch::ErrorCode;

livepatch::Result<SsoHookAnswer> parseSsoHookOutput(const std::string& out) {
    std::vector<std::string> lines;
    for (std::size_t pos = 0; pos < out.size();) {
        const std::size_t nl = out.find('\n', pos);
        lines.push_back(out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
        pos = nl == std::string::npos ? out.size() : nl + 1;
    }
    if (lines.empty()) return Error(ErrorCode::Protocol, "the hook printed nothing (expected the admin user name)");
    if (lines.size() > 2) return Error(ErrorCode::Protocol, "the hook printed more than two lines");
    if (!isAdminUserName(lines[0]))
        return Error(ErrorCode::Protocol,
                     std::string("the hook's first line is not an admin user name (") + kAdminUserNameRule + ")");
    SsoHookAnswer answer;
    answer.user = lines[0];
    if (lines.size() == 2) {
        static const std::regex expiresRe("^expires=([0-9]{1,9})$");
        std::smatch m;
        if (!std::regex_match(lines[1], m, expiresRe))
            return Error(ErrorCode::Protocol, "the hook's second line is not expires=<seconds>");
        const long long seconds = std::stoll(m[1]);
        if (seconds < 1) return Error(ErrorCode::Protocol, "the hook's expires= is not at least 1 second");
        answer.lifetime = std::chrono::seconds(seconds);
    }
    return answer;
}

livepatch::Status checkSsoHook(const std::string& path) {
    auto fd =
        livepatch::openRootOnly(path, "the hook", ErrorCode::ConfigInvalid, livepatch::TrustedKind::File, ::geteuid());
    if (!fd) return fd.error().wrap("refusing --admin-sso-hook " + path);
    if (::access(path.c_str(), X_OK) != 0)
        return Error(ErrorCode::ConfigInvalid, "refusing --admin-sso-hook " + path + ": the hook is not executable");
    return {};
}

SsoHook::Verdict SsoHook::run(const std::string& assertion) {
    if (running_.fetch_add(1) >= opt_.maxRunning) {
        --running_;
        Verdict busy;
        busy.outcome = Outcome::Busy;
        return busy;
    }
    struct Release {
        std::atomic<int>& n;
        ~Release() { --n; }
    } release{running_};
    return runHook(assertion);
}

SsoHook::Verdict SsoHook::runHook(const std::string& assertion) {
    Verdict v;
    auto refused = [&](const std::string& why) {
        v.why = why;
        return v;
    };
    // Again before every run: the hook may have been replaced or loosened since the start.
    if (auto s = checkSsoHook(opt_.path); !s) return refused(s.error().message());
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return refused(std::string("cannot create a pipe: ") + std::strerror(errno));
    livepatch::fs::UniqueFd inRead(in[0]), inWrite(in[1]);
    // The assertion is in the pipe before the hook starts (it is at most
    // 8 KiB, a pipe holds 64 KiB): the server never blocks on, or gets
    // SIGPIPE from, a hook that does not read its input.
    const std::string input = assertion + "\n";
    ::fcntl(inWrite.get(), F_SETFL, O_NONBLOCK);
    if (::write(inWrite.get(), input.data(), input.size()) != static_cast<ssize_t>(input.size()))
        return refused("cannot pass the assertion to the hook through a pipe");
    inWrite = livepatch::fs::UniqueFd();
    if (::pipe2(out, O_CLOEXEC) != 0) return refused(std::string("cannot create a pipe: ") + std::strerror(errno));
    livepatch::fs::UniqueFd outRead(out[0]), outWrite(out[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, inRead.get(), STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, outWrite.get(), STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    // Nothing else of the server's (listening sockets, database connections,
    // other hooks' pipes) reaches the hook.
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(&attr, &none);  // the server blocks SIGTERM/SIGINT; the hook must not inherit that
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);  // its own process group: killed as a whole
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    std::string path = opt_.path;
    char* argv[] = {&path[0], nullptr};
    char pathEnv[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char localeEnv[] = "LC_ALL=C";
    char* envp[] = {pathEnv, localeEnv, nullptr};
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, path.c_str(), &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    inRead = livepatch::fs::UniqueFd();
    outWrite = livepatch::fs::UniqueFd();
    if (rc != 0) return refused(std::string("cannot run the hook: ") + std::strerror(rc));

    const auto deadline = std::chrono::steady_clock::now() + opt_.timeout;
    auto left = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
            .count();
    };
    std::string output;
    bool timedOut = false, tooMuch = false;
    for (;;) {
        const auto ms = left();
        if (ms <= 0) {
            timedOut = true;
            break;
        }
        pollfd p{outRead.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(ms));
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) {
            timedOut = true;
            break;
        }
        char buf[1024];
        const ssize_t n = ::read(outRead.get(), buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) break;
        output.append(buf, static_cast<std::size_t>(n));
        if (output.size() > opt_.maxOutput) {
            tooMuch = true;
            break;
        }
    }
    // Its end is awaited without reaping it: while it is a zombie its pid,
    // the group's id, cannot be reused, so the kill below reaches only what
    // the hook started.
    while (!timedOut && !tooMuch) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (info.si_pid == pid) break;
        if (left() <= 0) {
            timedOut = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timedOut)
        return refused("the hook did not finish within " + std::to_string(opt_.timeout.count()) + " ms (killed)");
    if (tooMuch) return refused("the hook printed more than " + std::to_string(opt_.maxOutput) + " bytes (killed)");
    if (WIFSIGNALED(status)) return refused("the hook was killed by signal " + std::to_string(WTERMSIG(status)));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return refused("the hook exited with status " + std::to_string(WEXITSTATUS(status)));
    auto answer = parseSsoHookOutput(output);
    if (!answer) return refused(answer.error().message());
    v.outcome = Outcome::Accepted;
    v.answer = *answer;
    return v;
}

}  // namespace lpserver
