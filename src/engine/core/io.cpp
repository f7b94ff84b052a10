#include "engine/core/io.hpp"

#include <cerrno>

#include <sys/socket.h>
#include <unistd.h>

namespace kp::engine {

plain_io::~plain_io() {
    if (fd_ >= 0) ::close(fd_);
}

io_result plain_io::read(std::span<std::byte> into) noexcept {
    for (;;) {
        ssize_t n = ::recv(fd_, into.data(), into.size(), 0);
        if (n > 0) return {io_status::ok, static_cast<std::size_t>(n)};
        if (n == 0) return {io_status::closed, 0};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {io_status::retry, 0};
        return {io_status::error, 0};
    }
}

io_result plain_io::write(std::span<const std::byte> from) noexcept {
    for (;;) {
        ssize_t n = ::send(fd_, from.data(), from.size(), MSG_NOSIGNAL);
        if (n >= 0) return {io_status::ok, static_cast<std::size_t>(n)};
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return {io_status::retry, 0, true};
        return {io_status::error, 0};
    }
}

} // namespace kp::engine
