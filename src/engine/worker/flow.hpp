#pragma once
/// One data connection as a worker drives it: identity and Rx CPUs from establish(), counters
/// and latency for the results, and the small state of its traffic kind. Everything is sized
/// when the job is prepared; the hot path only touches numbers.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/stats/histogram.hpp"
#include "engine/core/io.hpp"
#include "engine/stats/result.hpp"
#include "engine/core/socket.hpp"
#include "engine/stats/tcp_stats.hpp"
#include "engine/tls/tls.hpp"

namespace kp::engine {

/// What a connection does in the run.
enum class conn_role : std::uint8_t {
    stream_send,
    stream_recv,
    rr_client,
    rr_server,
    crr_client, ///< no lasting connection: one socket per transaction
    udp_send,
    udp_recv,
    udp_rr_client,
    udp_rr_server,
};

/// Every figure a connection counts. Traffic figures are taken over the window
/// (snapshot at its end minus snapshot at its start); errors over warm-up plus window.
struct counters {
    std::uint64_t bytes_sent = 0, bytes_received = 0, transactions = 0, connections = 0;
    std::uint64_t datagrams_sent = 0, datagrams_received = 0, lost = 0, reordered = 0, duplicated = 0;
    std::uint64_t err_connect = 0, err_read = 0, err_write = 0, err_timeout = 0, err_verify = 0,
                  err_rejected = 0;
};

/// Traffic figures of `end - begin`; errors of `end`.
counters window_delta(const counters& begin, const counters& end) noexcept;
/// Adds every figure of `b` to `a`.
void accumulate(counters& a, const counters& b) noexcept;

/// Stage of a tcp_crr transaction.
enum class crr_stage : std::uint8_t { idle, connecting, handshaking, exchanging, closing };

/// One data connection (or, for tcp_crr clients, one flow's succession of connections).
struct conn {
    // Identity, from establish().
    std::uint32_t flow = 0;
    std::uint8_t slot = 0;   ///< bidir: 0 = client->server, 1 = server->client
    std::uint32_t index = 0; ///< position in its worker (the epoll tag)
    conn_role role = conn_role::stream_send;
    std::unique_ptr<stream_io> io; ///< TCP data connection; UDP kinds: the flow's control connection
    unique_fd udp;                 ///< UDP kinds: the connected data socket
    int rx_cpu_start = -1, rx_cpu_end = -1, peer_rx_cpu = -1, app_cpu = -1;
    std::uint16_t local_port = 0, remote_port = 0;
    tls_report tls;

    // Figures.
    counters c, at_begin, at_end;
    tcp_info_snapshot ti_begin, ti_end;
    bool has_tcp_info = false;
    histogram* hist = nullptr; ///< where latencies go: own_hist, or the worker's for many flows
    std::unique_ptr<histogram> own_hist;

    // Traffic state.
    std::uint32_t interest = 0;           ///< current epoll events
    bool done = false;                    ///< failed, closed or finished: no more I/O
    bool shut = false;                    ///< we sent our FIN at the window end
    std::uint64_t tx_off = 0, rx_off = 0; ///< stream offsets into the payload pattern
    std::uint64_t tx_owed = 0;            ///< bytes queued but not yet written
    std::uint64_t rx_partial = 0;         ///< bytes of the message being received
    std::vector<std::int64_t> stamps;     ///< rr: send times, FIFO; udp_rr: per slot (0 = free)
    std::vector<std::uint64_t> slot_seq;  ///< udp_rr: sequence number in each slot
    std::uint32_t head = 0, outstanding = 0;
    std::int64_t next_send = 0;  ///< open loop / paced: scheduled time of the next message
    double mean_gap_ns = 0;      ///< open loop / paced: 1 / per-connection rate
    std::uint64_t seq = 0;       ///< UDP: next sequence number to send
    std::int64_t zc_pending = 0; ///< MSG_ZEROCOPY sends not yet completed
    std::uint64_t measured_sent = 0, measured_bytes = 0; ///< UDP sender: datagrams marked in-window

    // UDP receiver: sequence tracking over a sliding bitmap of recent sequence numbers.
    std::uint64_t next_expected = 0;
    std::vector<std::uint64_t> seen;
    std::uint64_t peer_measured_sent = 0;
    bool got_end = false;
    std::uint32_t end_have = 0;
    std::byte end_buf[16]{};

    // tcp_crr client.
    crr_stage stage = crr_stage::idle;
    int crr_fd = -1;
    std::int64_t t_sched = 0, t_connect = 0, t_close = 0;
    std::vector<std::byte> crr_request; ///< hello followed by the request bytes
    std::uint64_t crr_sent = 0, crr_received = 0;
    std::unique_ptr<tls::pending> crr_hs; ///< TLS: the handshake in progress
    std::unique_ptr<stream_io> crr_io;    ///< TLS: the session (owns crr_fd)
    std::int64_t t_handshake = 0;
};

} // namespace kp::engine
