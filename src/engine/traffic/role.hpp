#pragma once
/// What a connection does in a run (its role), and the row of hooks through which a worker
/// drives it. Each traffic kind's file (stream, rr, crr, udp) defines the rows of its roles;
/// engine/traffic/kinds.hpp gathers them into one table indexed by role. The worker's loop calls the
/// row of a connection's role and never asks which role that is, as neper's `neper_fn`.
#include <cstddef>
#include <cstdint>

namespace kp::engine {

class worker;
struct conn;
struct counters;

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

/// The number of roles: the size of the role table.
inline constexpr std::size_t role_count = 9;

/// One role's hooks. Every hook runs on its worker's thread: no locks, no allocation, no logs
/// (except `prepare`, which runs before the threads start and sizes everything).
struct role_hooks {
    conn_role role; ///< the role this row drives
    /// Sizes the role's state in `conn::state` (before the run).
    void (*prepare)(worker&, conn&);
    /// The run begins: set the first interest, send the first messages.
    void (*start)(worker&, conn&, std::int64_t now) noexcept;
    /// Readiness on `conn::io` when `control` (a UDP flow's control connection, a TCP flow's
    /// data), else on `conn::udp`. A UDP flow's control events come even once `done`.
    void (*event)(worker&, conn&, std::uint32_t events, bool control, std::int64_t now) noexcept;
    /// Pacing and timeouts; returns the next time it wants to run (INT64_MAX: none).
    /// nullptr: the role has no timers.
    std::int64_t (*timer)(worker&, conn&, std::int64_t now) noexcept;
    /// The window has ended (counters are already snapshotted): close, send end notes.
    void (*window_end)(worker&, conn&) noexcept;
    /// Readiness after the window, until the connection is drained (or the peer stays silent).
    void (*linger)(worker&, conn&, std::uint32_t events, bool control) noexcept;
    /// The connection's figures over the window, from its snapshots and its own state.
    counters (*figures)(const conn&) noexcept;
    bool source;        ///< its messages are paced by the job's rate (open loop)
    bool timed;         ///< runs its timer hook even without a rate (back-off, timeouts)
    bool reads_control; ///< watches its control connection for input from the start
    bool sender;        ///< a stream's sending end: its tcp_info (TCP) describes the flow
};

// Hooks several roles share (worker.cpp).

/// TCP with a lasting connection: send our FIN and read until the peer's, so neither side sees
/// a reset while the other may still be measuring.
void tcp_window_end(worker& w, conn& c) noexcept;
/// TCP with a lasting connection: drain until the peer's FIN.
void tcp_linger(worker& w, conn& c, std::uint32_t events, bool control) noexcept;
/// The counters at the window end minus those at its start.
counters window_figures(const conn& c) noexcept;

} // namespace kp::engine
