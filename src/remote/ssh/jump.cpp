// Jump hosts: a direct-tcpip channel pumped into a socketpair (see jump.hpp).
#include "remote/ssh/jump.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {
constexpr int idle_poll_ms = 200;
constexpr std::size_t chunk = 256 * 1024;

/// The jump's sshd sends small packets (replies the next session waits for) with Nagle on: one
/// sent while our ACK of the previous is delayed waits 40 ms for it (measured: 40 ms per SFTP
/// block). Quick ACKs on our socket keep round trips through the jump short; Linux clears the
/// flag as it goes, so it is set again before each wait.
void quick_ack(int fd) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}
} // namespace

result<std::unique_ptr<jump_link>> jump_link::open(std::unique_ptr<ssh_connection> hop,
                                                   const std::string& host, std::uint16_t port,
                                                   int* peer_fd) {
    ssh_session s = hop->raw();
    std::string where = fmt::format("{}: opening a channel to {}:{}", hop->label(), host, port);
    ssh_channel ch = ssh_channel_new(s);
    if (ch == nullptr) return fail(fmt::format("{}: {}", where, ssh_get_error(s)));
    if (ssh_channel_open_forward(ch, host.c_str(), port, "127.0.0.1", 0) != SSH_OK) {
        std::string msg = fmt::format("{}: {}", where, ssh_get_error(s));
        ssh_channel_free(ch);
        return fail(msg);
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        ssh_channel_close(ch);
        ssh_channel_free(ch);
        return fail(fmt::format("{}: socketpair: {}", where, std::strerror(errno)));
    }
    ::fcntl(fds[0], F_SETFL, ::fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    *peer_fd = fds[1];
    return std::unique_ptr<jump_link>(new jump_link(std::move(hop), ch, fds[0]));
}

jump_link::jump_link(std::unique_ptr<ssh_connection> hop, ssh_channel ch, int fd)
    : hop_(std::move(hop)), ch_(ch), fd_(fd), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    thread_ = std::thread([this] { pump(); });
}

jump_link::~jump_link() {
    stop_ = true;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
    if (thread_.joinable()) thread_.join();
    if (ssh_channel_is_open(ch_) != 0) ssh_channel_close(ch_);
    ssh_channel_free(ch_);
    ::close(fd_);
    ::close(wake_);
    hop_.reset(); // disconnects this hop, then the hops before it
}

void jump_link::pump() {
    ssh_session s = hop_->raw();
    std::string up, down; // socket -> channel, channel -> socket
    std::vector<char> space(chunk);
    char* buf = space.data();
    bool socket_eof = false;
    while (!stop_) {
        bool progress = false;
        if (up.empty() && !socket_eof) {
            auto n = ::read(fd_, buf, chunk);
            if (n > 0) {
                up.assign(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                socket_eof = true; // the next session is gone
                ssh_channel_send_eof(ch_);
                break;
            }
        }
        if (!up.empty()) {
            std::size_t window = ssh_channel_window_size(ch_);
            if (window > 0) {
                int n = ssh_channel_write(ch_, up.data(),
                                          static_cast<std::uint32_t>(std::min(window, up.size())));
                if (n == SSH_ERROR) break;
                up.erase(0, static_cast<std::size_t>(n));
                progress = n > 0;
            }
        }
        if (down.empty()) {
            int n = ssh_channel_read_nonblocking(ch_, buf, static_cast<std::uint32_t>(chunk), 0);
            if (n == SSH_ERROR) break;
            if (n > 0) down.assign(buf, static_cast<std::size_t>(n));
        }
        if (!down.empty()) {
            auto n = ::send(fd_, down.data(), down.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                down.erase(0, static_cast<std::size_t>(n));
                progress = true;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
        if (down.empty() && (ssh_channel_is_eof(ch_) != 0 || ssh_channel_is_closed(ch_) != 0)) break;
        if (progress) continue;
        short sock_events = static_cast<short>((up.empty() ? POLLIN : 0) | (down.empty() ? 0 : POLLOUT));
        quick_ack(ssh_get_fd(s));
        pollfd fds[3] = {{fd_, sock_events, 0}, {ssh_get_fd(s), POLLIN, 0}, {wake_, POLLIN, 0}};
        ::poll(fds, 3, idle_poll_ms);
    }
    // Either side ended: the next session sees its socket close.
    ::shutdown(fd_, SHUT_RDWR);
}

} // namespace kp::remote
