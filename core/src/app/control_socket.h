// Root-only control socket between the CLI and the daemon.
//
// Line protocol: the client sends one command line ("refresh", "reload");
// the daemon answers with zero or more "progress <phase> <done> <total>"
// lines and one final "done <exit-code> <one-line message>".
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "livepatch/error.h"

namespace livepatch::app {

class ControlServer {
public:
    // handler(command, emit) -> (exit code, message); emit writes a progress line.
    using Handler = std::function<std::pair<int, std::string>(const std::string& command,
                                                              const std::function<void(const std::string&)>& emit)>;
    ControlServer() = default;
    ~ControlServer();
    // Socket is created 0600 inside the 0700 run dir; peers must be uid 0
    // (or our own uid, for tests running unprivileged).
    Status start(const std::string& path, Handler handler);
    void stop();

private:
    void loop();
    std::string path_;
    Handler handler_;
    int fd_ = -1;
    int wakePipe_[2] = {-1, -1};  // stop() writes here; the loop sleeps in poll() without timeouts
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// Send a command; onLine gets every progress line; returns the final line's
// (code, message). NotFound if nobody listens (no daemon: the caller may do
// the work itself); DaemonUnavailable if the daemon took the command but
// closed the connection without an answer (stopped or crashed meanwhile: the
// outcome is unknown, so the caller must not simply run it again).
Result<std::pair<int, std::string>> sendControl(const std::string& path, const std::string& command,
                                                const std::function<void(const std::string&)>& onLine);

// Encoding helpers (tested).
std::string progressLine(const std::string& phase, unsigned long long done, unsigned long long total);
std::string doneLine(int code, const std::string& message);
bool parseDoneLine(const std::string& line, int& code, std::string& message);

}  // namespace livepatch::app
