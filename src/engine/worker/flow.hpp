#pragma once
/// One data connection as a worker drives it: identity and Rx CPUs from establish(), counters
/// and latency for the results, and the state of its traffic kind (engine/traffic/kinds.hpp). Everything is
/// sized when the job is prepared; the hot path only touches numbers.
#include <cstdint>
#include <memory>

#include "engine/core/io.hpp"
#include "engine/core/socket.hpp"
#include "engine/stats/histogram.hpp"
#include "engine/stats/result.hpp"
#include "engine/stats/tcp_stats.hpp"
#include "engine/tls/tls.hpp"
#include "engine/traffic/kinds.hpp"
#include "engine/worker/counters.hpp"

namespace kp::engine {

/// One data connection (or, for tcp_crr clients, one flow's succession of connections).
struct conn {
    // Identity, from establish().
    std::uint32_t flow = 0;
    std::uint8_t slot = 0;   ///< bidir: 0 = client->server, 1 = server->client
    std::uint32_t index = 0; ///< position in its worker (the epoll tag)
    conn_role role = conn_role::stream_send;
    std::unique_ptr<stream_io> io; ///< TCP data connection; UDP kinds: the flow's control connection
    unique_fd udp;                 ///< UDP kinds: the connected data socket
    int probe_fd = -1;             ///< tcp_crr client: the flow's idle probe connection (not owned)
    int rx_cpu_start = -1, rx_cpu_end = -1, peer_rx_cpu = -1, app_cpu = -1;
    std::uint16_t local_port = 0, remote_port = 0;
    tls_report tls;

    // Figures.
    counters c, at_begin, at_end;
    tcp_info_snapshot ti_begin, ti_end;
    bool has_tcp_info = false;
    histogram* hist = nullptr; ///< where latencies go: own_hist, or the worker's for many flows
    std::unique_ptr<histogram> own_hist;

    // Traffic state: what every role has, then what only its kind has.
    std::uint32_t interest = 0; ///< current epoll events
    bool done = false;          ///< failed, closed or finished: no more I/O
    bool shut = false;          ///< we sent our FIN at the window end
    std::int64_t next_send = 0; ///< open loop / paced: scheduled time of the next message
    double mean_gap_ns = 0;     ///< open loop / paced: 1 / per-connection rate (set by the session)
    kind_state state;           ///< the role's own state, sized by its prepare hook
};

/// `c`'s state as its kind's type `S`; a role's hooks know which that is (a mismatch is a bug).
template <class S> [[nodiscard]] S& state_of(conn& c) noexcept {
    return std::get<S>(c.state);
}
/// `c`'s state as its kind's type `S`.
template <class S> [[nodiscard]] const S& state_of(const conn& c) noexcept {
    return std::get<S>(c.state);
}

} // namespace kp::engine
