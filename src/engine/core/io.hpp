#pragma once
/// The byte-stream transport of one data connection, chosen once at setup (plain or TLS),
/// in the manner of wrk: every call returns ok, retry or an end, never throws, never logs.
#include <cstddef>
#include <cstdint>
#include <span>

namespace kp::engine {

/// The outcome of one non-blocking I/O call.
enum class io_status : std::uint8_t {
    ok,     ///< `bytes` were moved (may be fewer than asked)
    retry,  ///< would block: wait for readiness (`want_write` says which)
    closed, ///< orderly end of stream from the peer
    error,  ///< the connection is broken; count it and drop the flow
};

struct io_result {
    io_status status = io_status::ok;
    std::size_t bytes = 0;
    bool want_write = false; ///< with retry: the transport needs EPOLLOUT (TLS renegotiation, etc.)
};

/// A connected, non-blocking stream. Plain sockets and TLS sessions implement it.
class stream_io {
  public:
    virtual ~stream_io() = default;
    [[nodiscard]] virtual int fd() const noexcept = 0;
    virtual io_result read(std::span<std::byte> into) noexcept = 0;
    virtual io_result write(std::span<const std::byte> from) noexcept = 0;
    /// True when the transport holds bytes it took off the socket, which no fd readiness will
    /// announce (TLS records). A caller that stops reading before a `retry` or a short read must
    /// read again while this is true before it waits for EPOLLIN; after a retry, just wait.
    [[nodiscard]] virtual bool buffered() const noexcept { return false; }
};

/// A stream over a plain socket; owns and closes the fd.
class plain_io final : public stream_io {
  public:
    explicit plain_io(int fd) noexcept : fd_(fd) {}
    ~plain_io() override;
    plain_io(const plain_io&) = delete;
    plain_io& operator=(const plain_io&) = delete;
    [[nodiscard]] int fd() const noexcept override { return fd_; }
    io_result read(std::span<std::byte> into) noexcept override;
    io_result write(std::span<const std::byte> from) noexcept override;

  private:
    int fd_;
};

} // namespace kp::engine
