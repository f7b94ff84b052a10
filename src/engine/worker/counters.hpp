#pragma once
/// The figures a connection (or a tcp_crr server flow) counts, and how windows of them combine.
#include <cstdint>

namespace kp::engine {

/// Every figure a connection counts. Traffic figures are taken over the window
/// (snapshot at its end minus snapshot at its start); errors over warm-up plus window.
struct counters {
    std::uint64_t bytes_sent = 0, bytes_received = 0, transactions = 0, connections = 0;
    std::uint64_t datagrams_sent = 0, datagrams_received = 0, lost = 0, reordered = 0, duplicated = 0;
    /// tcp_crr: tcp_info's total_retrans of each connection, read just before it closes (the
    /// short connections have no window-long tcp_info of their own).
    std::uint64_t retrans = 0;
    std::uint64_t err_connect = 0, err_read = 0, err_write = 0, err_timeout = 0, err_verify = 0,
                  err_rejected = 0;
};

/// Traffic figures of `end - begin`; errors of `end`.
counters window_delta(const counters& begin, const counters& end) noexcept;
/// Adds every figure of `b` to `a`.
void accumulate(counters& a, const counters& b) noexcept;

} // namespace kp::engine
