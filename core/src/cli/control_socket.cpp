#include "cli/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "livepatch/text.h"

namespace livepatch::cli {

namespace {

bool writeAll(int fd, const std::string& s) {
    const char* p = s.data();
    size_t left = s.size();
    while (left) {
        ssize_t n = ::send(fd, p, left, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    return true;
}

// One line, which must be complete by `deadline` (not per read: a client
// sending a byte now and then cannot stretch it).
bool readLine(int fd, std::string& buffer, std::string& line, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        auto nl = buffer.find('\n');
        if (nl != std::string::npos) {
            line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            return true;
        }
        if (buffer.size() > 65536) return false;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) return false;
        struct pollfd pfd {
            fd, POLLIN, 0
        };
        int r = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60 * 60 * 1000)));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return false;
        buffer.append(buf, static_cast<size_t>(n));
    }
}

}  // namespace

std::string progressLine(const std::string& phase, unsigned long long done, unsigned long long total) {
    return "progress " + oneLine(phase, std::string::npos) + " " + std::to_string(done) + " " + std::to_string(total) +
           "\n";
}

std::string doneLine(int code, const std::string& message) {
    return "done " + std::to_string(code) + " " + oneLine(message, std::string::npos) + "\n";
}

bool parseDoneLine(const std::string& line, int& code, std::string& message) {
    if (line.rfind("done ", 0) != 0) return false;
    auto sp = line.find(' ', 5);
    try {
        code = std::stoi(line.substr(5, sp == std::string::npos ? std::string::npos : sp - 5));
    } catch (...) {
        return false;
    }
    message = sp == std::string::npos ? "" : line.substr(sp + 1);
    return true;
}

ControlServer::~ControlServer() { stop(); }

Status ControlServer::start(const std::string& path, Handler handler) {
    path_ = path;
    handler_ = std::move(handler);
    struct sockaddr_un addr {};
    if (path.size() >= sizeof addr.sun_path) return Error(ErrorCode::InvalidArgument, "socket path too long: " + path);
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return Error(ErrorCode::Permission, path + " exists and is not a socket; refusing to replace it");
        // A live daemon answers; a stale socket is replaced.
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (live) return Error(ErrorCode::Busy, "another livepatch-agent daemon is running (" + path + ")");
        ::unlink(path.c_str());
    }
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return Error(ErrorCode::Io, std::string("cannot create control socket: ") + std::strerror(errno));
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    mode_t old = ::umask(0177);
    int rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (rc != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd_, 8) != 0) {
        int err = errno;
        ::close(fd_);
        fd_ = -1;
        return Error(ErrorCode::Io, "cannot listen on " + path + ": " + std::strerror(err));
    }
    stopping_ = false;
    if (::pipe2(wakePipe_, O_CLOEXEC) != 0) return Error(ErrorCode::Io, "cannot create wake pipe");
    thread_ = std::thread([this] { loop(); });
    return {};
}

void ControlServer::stop() {
    stopping_ = true;
    if (wakePipe_[1] >= 0) (void)!::write(wakePipe_[1], "x", 1);
    if (thread_.joinable()) thread_.join();
    {
        // Clients still being served: end their connections (a refresh in
        // progress was cancelled with the daemon) and wait for them.
        std::lock_guard<std::mutex> lock(clientsMu_);
        for (auto& c : clients_)
            if (!c->done) ::shutdown(c->fd, SHUT_RDWR);
    }
    for (auto& c : clients_)
        if (c->thread.joinable()) c->thread.join();
    clients_.clear();
    for (int& p : wakePipe_)
        if (p >= 0) {
            ::close(p);
            p = -1;
        }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
        ::unlink(path_.c_str());
    }
}

void ControlServer::reapFinished() {
    std::lock_guard<std::mutex> lock(clientsMu_);
    for (auto it = clients_.begin(); it != clients_.end();) {
        if ((*it)->done) {
            (*it)->thread.join();
            it = clients_.erase(it);
        } else {
            ++it;
        }
    }
}

void ControlServer::serve(Client& client) {
    std::string buffer, line;
    if (readLine(client.fd, buffer, line, std::chrono::steady_clock::now() + kRequestDeadline)) {
        const int c = client.fd;
        auto result = handler_(line, [c](const std::string& l) { writeAll(c, l); });
        writeAll(c, doneLine(result.first, result.second));
    }
    ::close(client.fd);
    client.done = true;
}

void ControlServer::loop() {
    while (!stopping_) {
        struct pollfd pfds[2] = {{fd_, POLLIN, 0}, {wakePipe_[0], POLLIN, 0}};
        int r = ::poll(pfds, 2, -1);
        if (r <= 0 || stopping_ || (pfds[1].revents & POLLIN)) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        struct ucred cred {};
        socklen_t len = sizeof cred;
        if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || (cred.uid != 0 && cred.uid != ::geteuid())) {
            writeAll(c, doneLine(3, "permission denied: only root may control the agent"));
            ::close(c);
            continue;
        }
        reapFinished();
        std::lock_guard<std::mutex> lock(clientsMu_);
        if (clients_.size() >= kMaxClients) {
            writeAll(c, doneLine(4, "the daemon is serving " + std::to_string(kMaxClients) + " clients; try again"));
            ::close(c);
            continue;
        }
        auto client = std::make_unique<Client>();
        client->fd = c;
        Client& ref = *client;
        clients_.push_back(std::move(client));
        ref.thread = std::thread([this, &ref] { serve(ref); });
    }
}

Result<std::pair<int, std::string>> sendControl(const std::string& path, const std::string& command,
                                                const std::function<void(const std::string&)>& onLine) {
    struct sockaddr_un addr {};
    if (path.size() >= sizeof addr.sun_path)
        return Error(ErrorCode::DaemonUnavailable, "control socket path too long: " + path);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return Error(ErrorCode::NotFound, "the livepatch-agent daemon is not running (" + path + ")");
    }
    writeAll(fd, oneLine(command, std::string::npos) + "\n");
    std::string buffer, line;
    // A refresh may wait on the server for up to request-timeout per request.
    while (readLine(fd, buffer, line, std::chrono::steady_clock::now() + std::chrono::minutes(30))) {
        int code;
        std::string msg;
        if (parseDoneLine(line, code, msg)) {
            ::close(fd);
            return std::make_pair(code, msg);
        }
        if (onLine) onLine(line);
    }
    ::close(fd);
    return Error(
        ErrorCode::DaemonUnavailable,
        "the daemon closed the connection without an answer (it stopped or crashed); see its log and `status`");
}

}  // namespace livepatch::cli
