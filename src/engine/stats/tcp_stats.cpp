#include "engine/stats/tcp_stats.hpp"

// <linux/tcp.h> rather than glibc's <netinet/tcp.h>: glibc's struct tcp_info stops before
// delivery_rate, delivered_ce and reord_seen. The two headers conflict, so this file includes
// only the kernel one (and nothing that pulls in <netinet/tcp.h>).
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace kp::engine {

// A field the kernel filled, else 0: an older kernel copies a shorter tcp_info and says so in len.
#define KP_TCPI(info, len, member)                                                                           \
    ((len) >= offsetof(tcp_info, member) + sizeof((info).member) ? (info).member : 0)

result<tcp_info_snapshot> read_tcp_info(int fd) noexcept {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
        return fail(errno_error("getsockopt TCP_INFO"));
    tcp_info_snapshot s;
    s.total_retrans = KP_TCPI(info, len, tcpi_total_retrans);
    s.reord_seen = KP_TCPI(info, len, tcpi_reord_seen);
    s.delivered_ce = KP_TCPI(info, len, tcpi_delivered_ce);
    s.rtt_us = KP_TCPI(info, len, tcpi_rtt);
    s.rttvar_us = KP_TCPI(info, len, tcpi_rttvar);
    s.snd_cwnd = KP_TCPI(info, len, tcpi_snd_cwnd);
    s.delivery_rate = KP_TCPI(info, len, tcpi_delivery_rate);
    return s;
}

std::uint32_t total_retrans(int fd) noexcept {
    tcp_info info{};
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
    return KP_TCPI(info, len, tcpi_total_retrans);
}

#undef KP_TCPI

tcp_stats tcp_delta(const tcp_info_snapshot& start, const tcp_info_snapshot& end) noexcept {
    tcp_stats t;
    // The kernel's counters are u32; unsigned subtraction is right across one wrap.
    t.total_retrans = static_cast<std::uint32_t>(end.total_retrans - start.total_retrans);
    t.reord_seen = static_cast<std::uint32_t>(end.reord_seen - start.reord_seen);
    t.delivered_ce = static_cast<std::uint32_t>(end.delivered_ce - start.delivered_ce);
    t.rtt_us = end.rtt_us;
    t.rttvar_us = end.rttvar_us;
    t.snd_cwnd = end.snd_cwnd;
    t.delivery_rate = end.delivery_rate;
    return t;
}

} // namespace kp::engine
