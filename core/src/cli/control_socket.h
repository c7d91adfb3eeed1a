// Root-only control socket between the CLI and the daemon.
//
// Line protocol: the client sends one command line ("refresh", "reload");
// the daemon answers with zero or more "progress <phase> <done> <total>"
// lines and one final "done <exit-code> <one-line message>".
//
// Every client is served in its own thread and must send its command line
// within kRequestDeadline (the whole line, not per byte), so no local client,
// silent or trickling, can hold the socket from another; at most
// kMaxClients are served at once, further ones are told the daemon is busy.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "livepatch/error.h"

namespace livepatch::cli {

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

    static constexpr std::chrono::milliseconds kRequestDeadline{2000};
    static constexpr size_t kMaxClients = 16;

private:
    struct Client {
        int fd = -1;
        std::atomic<bool> done{false};
        std::thread thread;
    };
    void loop();
    void serve(Client& client);
    void reapFinished();
    std::string path_;
    Handler handler_;
    int fd_ = -1;
    int wakePipe_[2] = {-1, -1};  // stop() writes here; the loop sleeps in poll() without timeouts
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::mutex clientsMu_;
    std::list<std::unique_ptr<Client>> clients_;
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

}  // namespace livepatch::cli
