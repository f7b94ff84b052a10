#pragma once
/// The open-file limit (RLIMIT_NOFILE): every flow takes a descriptor on each side, so a job
/// with many flows runs into it, and its error should name the limit and how to raise it.
#include <cstdint>
#include <string>

#include "engine/core/error.hpp"

namespace kp::engine {

/// The soft and hard open-file limits of this process (RLIM_INFINITY as UINT64_MAX).
struct fd_limit {
    std::uint64_t soft = 0, hard = 0;
};

/// This process's open-file limit now.
[[nodiscard]] fd_limit current_fd_limit() noexcept;

/// Raises the soft open-file limit to the hard one, as Go's runtime does at start: the soft
/// default (often 1024) is a guard for select(), which nothing here uses. Returns the limit after.
fd_limit raise_fd_limit() noexcept;

/// True for the errno values that mean the descriptors ran out (EMFILE: this process's limit;
/// ENFILE: the system's).
[[nodiscard]] bool out_of_descriptors(int sys_errno) noexcept;

/// `e` (an out-of-descriptors error) with what it means for a job of `flows` flows that takes
/// about `per_side` descriptors on each side, the limit here, and how to raise it:
/// "socket: Too many open files: 1000 flows take at least 1000 descriptors on each side (twice that
/// on a host that runs both), and the open-file limit here is 256 (hard limit 256); raise it
/// with `ulimit -n` (or LimitNOFILE= for a systemd unit)".
[[nodiscard]] error with_fd_limit(error e, std::uint32_t flows, std::size_t per_side);

} // namespace kp::engine
