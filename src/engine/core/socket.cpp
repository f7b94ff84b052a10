#include "engine/core/socket.hpp"

#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/core/clock.hpp"

namespace kp::engine {

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
}

int unique_fd::release() noexcept {
    int fd = fd_;
    fd_ = -1;
    return fd;
}

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

std::uint16_t sock_addr::port() const noexcept {
    if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return 0;
}

void sock_addr::set_port(std::uint16_t port) noexcept {
    if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
    if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string sock_addr::to_string() const {
    char host[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, host, sizeof host);
        return fmt::format("{}:{}", host, port());
    }
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, host, sizeof host);
        return fmt::format("[{}]:{}", host, port());
    }
    return "?";
}

result<sock_addr> resolve(const std::string& address, std::uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = address.empty() ? AI_PASSIVE : 0;
    addrinfo* res = nullptr;
    auto service = std::to_string(port);
    int rc = getaddrinfo(address.empty() ? nullptr : address.c_str(), service.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) return fail(fmt::format("resolving '{}': {}", address, gai_strerror(rc)));
    sock_addr a;
    std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
    a.len = res->ai_addrlen;
    freeaddrinfo(res);
    return a;
}

result<sock_addr> local_address(int fd) {
    sock_addr a;
    a.len = sizeof a.storage;
    if (getsockname(fd, a.get(), &a.len) != 0) return fail(errno_error("getsockname"));
    return a;
}

result<sock_addr> peer_address(int fd) {
    sock_addr a;
    a.len = sizeof a.storage;
    if (getpeername(fd, a.get(), &a.len) != 0) return fail(errno_error("getpeername"));
    return a;
}

std::uint16_t local_port(int fd) noexcept {
    auto a = local_address(fd);
    return a ? a->port() : 0;
}

std::uint16_t remote_port(int fd) noexcept {
    auto a = peer_address(fd);
    return a ? a->port() : 0;
}

int incoming_cpu(int fd) noexcept {
    int cpu = -1;
    socklen_t len = sizeof cpu;
    if (getsockopt(fd, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) != 0) return -1;
    return cpu;
}

result<void> set_nonblocking(int fd, bool on) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return fail(errno_error("fcntl F_GETFL"));
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (fcntl(fd, F_SETFL, flags) != 0) return fail(errno_error("fcntl F_SETFL"));
    return {};
}

namespace {

result<void> set_int(int fd, int level, int name, int value, const char* what) {
    if (setsockopt(fd, level, name, &value, sizeof value) != 0) return fail(errno_error(what));
    return {};
}

} // namespace

result<void> apply_udp_options(int fd, const socket_options& o) {
    if (o.sndbuf > 0)
        if (auto r = set_int(fd, SOL_SOCKET, SO_SNDBUF, o.sndbuf, "setsockopt SO_SNDBUF"); !r) return r;
    if (o.rcvbuf > 0)
        if (auto r = set_int(fd, SOL_SOCKET, SO_RCVBUF, o.rcvbuf, "setsockopt SO_RCVBUF"); !r) return r;
    return {};
}

result<void> apply_tcp_options(int fd, const socket_options& o) {
    if (auto r = apply_udp_options(fd, o); !r) return r;
    if (o.nodelay)
        if (auto r = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt TCP_NODELAY"); !r) return r;
    if (!o.congestion.empty() &&
        setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, o.congestion.data(), o.congestion.size()) != 0)
        return fail(errno_error(fmt::format("setsockopt TCP_CONGESTION '{}'", o.congestion)));
    if (o.max_pacing_rate > 0) {
        std::uint64_t rate = o.max_pacing_rate;
        if (setsockopt(fd, SOL_SOCKET, SO_MAX_PACING_RATE, &rate, sizeof rate) != 0)
            return fail(errno_error("setsockopt SO_MAX_PACING_RATE"));
    }
    if (o.zerocopy)
        if (auto r = set_int(fd, SOL_SOCKET, SO_ZEROCOPY, 1, "setsockopt SO_ZEROCOPY"); !r) return r;
    return {};
}

result<unique_fd> listen_tcp(const sock_addr& at, int backlog) {
    unique_fd fd(socket(at.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail(errno_error("socket"));
    if (auto r = set_int(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR"); !r)
        return fail(r.error());
    if (bind(fd.get(), at.get(), at.len) != 0)
        return fail(errno_error(fmt::format("bind {}", at.to_string())));
    if (::listen(fd.get(), backlog) != 0) return fail(errno_error(fmt::format("listen {}", at.to_string())));
    return fd;
}

result<unique_fd> connect_tcp(const sock_addr& to, const socket_options& o, std::int64_t deadline_ns) {
    unique_fd fd(socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail(errno_error("socket"));
    if (auto r = apply_tcp_options(fd.get(), o); !r) return fail(r.error());
    auto what = fmt::format("connect {}", to.to_string());
    if (::connect(fd.get(), to.get(), to.len) != 0) {
        if (errno != EINPROGRESS) return fail(errno_error(what));
        pollfd p{fd.get(), POLLOUT, 0};
        int n = poll(&p, 1, ms_until(deadline_ns));
        if (n < 0) return fail(errno_error(what));
        if (n == 0) return fail(fmt::format("{}: timed out", what));
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            errno = err; // so that the error keeps it (sys_errno)
            return fail(errno_error(what));
        }
    }
    if (auto r = set_nonblocking(fd.get(), false); !r) return fail(r.error());
    return fd;
}

result<unique_fd> bind_udp(const sock_addr& at, const socket_options& o) {
    unique_fd fd(socket(at.family(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail(errno_error("socket"));
    if (auto r = apply_udp_options(fd.get(), o); !r) return fail(r.error());
    if (bind(fd.get(), at.get(), at.len) != 0)
        return fail(errno_error(fmt::format("bind {}", at.to_string())));
    return fd;
}

namespace {

result<void> wait_ready(int fd, short events, std::int64_t deadline_ns, const char* what) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, ms_until(deadline_ns));
    if (n < 0 && errno != EINTR) return fail(errno_error(what));
    if (n == 0) return fail(fmt::format("{}: timed out", what));
    return {};
}

} // namespace

result<void> write_all(int fd, std::span<const std::byte> data, std::int64_t deadline_ns) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return fail(errno_error("write"));
        if (mono_ns() >= deadline_ns) return fail("write: timed out");
        if (auto r = wait_ready(fd, POLLOUT, deadline_ns, "write"); !r) return r;
    }
    return {};
}

result<void> read_all(int fd, std::span<std::byte> into, std::int64_t deadline_ns) {
    std::size_t done = 0;
    while (done < into.size()) {
        ssize_t n = ::recv(fd, into.data() + done, into.size() - done, MSG_DONTWAIT);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) return fail("read: connection closed by the peer");
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return fail(errno_error("read"));
        if (mono_ns() >= deadline_ns) return fail("read: timed out");
        if (auto r = wait_ready(fd, POLLIN, deadline_ns, "read"); !r) return r;
    }
    return {};
}

} // namespace kp::engine
