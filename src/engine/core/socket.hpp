#pragma once
/// Small socket helpers for the engine's setup paths (not the hot path): an owning fd, address
/// resolution, TCP/UDP socket creation with the job's options, blocking-with-deadline exchanges.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <sys/socket.h>

#include "engine/core/error.hpp"
#include "engine/core/job.hpp"

namespace kp::engine {

/// Owns a file descriptor and closes it.
class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept;
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }
    [[nodiscard]] int get() const noexcept { return fd_; }
    [[nodiscard]] explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept;
    void reset(int fd = -1) noexcept;

  private:
    int fd_ = -1;
};

/// A socket address with its length.
struct sock_addr {
    sockaddr_storage storage{};
    socklen_t len = 0;
    [[nodiscard]] const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
    [[nodiscard]] sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&storage); }
    [[nodiscard]] int family() const noexcept { return storage.ss_family; }
    [[nodiscard]] std::uint16_t port() const noexcept;
    void set_port(std::uint16_t port) noexcept;
    [[nodiscard]] std::string to_string() const; ///< "127.0.0.1:5201", "[::1]:5201"
};

/// Resolves a numeric or host-name address and port ("" binds any IPv4 address).
result<sock_addr> resolve(const std::string& address, std::uint16_t port);
/// The local / peer address of a socket.
result<sock_addr> local_address(int fd);
result<sock_addr> peer_address(int fd);
/// The local / peer port of a socket, 0 when unknown.
std::uint16_t local_port(int fd) noexcept;
std::uint16_t remote_port(int fd) noexcept;
/// SO_INCOMING_CPU: the CPU that last processed the socket's received packets, -1 when unknown.
int incoming_cpu(int fd) noexcept;

result<void> set_nonblocking(int fd, bool on);
/// Applies the job's TCP socket options (buffers, nodelay, congestion, pacing, zerocopy).
result<void> apply_tcp_options(int fd, const socket_options& o);
/// Applies the buffer sizes to a UDP socket.
result<void> apply_udp_options(int fd, const socket_options& o);

/// A listening TCP socket on `at` (SO_REUSEADDR, non-blocking).
result<unique_fd> listen_tcp(const sock_addr& at, int backlog);
/// Connects a TCP socket to `to` before `deadline_ns` (monotonic); options applied before connect.
/// The returned socket is blocking.
result<unique_fd> connect_tcp(const sock_addr& to, const socket_options& o, std::int64_t deadline_ns);
/// A UDP socket bound to `at` (port 0: ephemeral).
result<unique_fd> bind_udp(const sock_addr& at, const socket_options& o);

/// Writes / reads exactly `data.size()` bytes before the deadline (poll-based; any fd mode).
result<void> write_all(int fd, std::span<const std::byte> data, std::int64_t deadline_ns);
result<void> read_all(int fd, std::span<std::byte> into, std::int64_t deadline_ns);

} // namespace kp::engine
