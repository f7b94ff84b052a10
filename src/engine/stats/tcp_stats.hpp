#pragma once
/// tcp_info readings of a connection at the start and end of the window, and their delta.
#include <cstdint>

#include "engine/core/error.hpp"
#include "engine/stats/result.hpp"

namespace kp::engine {

/// The tcp_info fields we report, read from one socket at one moment. Fields the running kernel
/// does not provide (shorter tcp_info) read as 0.
struct tcp_info_snapshot {
    std::uint32_t total_retrans = 0, reord_seen = 0, delivered_ce = 0; // kernel counters (u32)
    std::uint32_t rtt_us = 0, rttvar_us = 0, snd_cwnd = 0;
    std::uint64_t delivery_rate = 0; ///< bytes/s
};

/// getsockopt(TCP_INFO) on `fd`. Cheap (one syscall, no allocation); not for every message.
result<tcp_info_snapshot> read_tcp_info(int fd) noexcept;
/// tcp_info's total_retrans of `fd` (segments retransmitted over the connection's life, its SYN
/// or SYN-ACK included), 0 where it cannot be read. For tcp_crr, once per connection before close.
std::uint32_t total_retrans(int fd) noexcept;
/// Counters as deltas start -> end (modulo 2^32, as the kernel's are u32); gauges from `end`.
tcp_stats tcp_delta(const tcp_info_snapshot& start, const tcp_info_snapshot& end) noexcept;

} // namespace kp::engine
