#pragma once
/// tcp_rr: the state and hooks of its client and server roles (rr.cpp).
#include <cstdint>
#include <vector>

#include "engine/traffic/role.hpp"

namespace kp::engine {

/// A tcp_rr connection, either end: stream offsets, the bytes it owes, the message it is
/// receiving and (client) the send times of the requests in flight.
struct rr_state {
    std::uint64_t tx_off = 0, rx_off = 0; ///< stream offsets into the payload pattern
    std::uint64_t tx_owed = 0;            ///< bytes queued but not yet written
    std::uint64_t rx_partial = 0;         ///< bytes of the message being received
    std::vector<std::int64_t> stamps;     ///< client: send times, FIFO, in_flight deep
    std::uint32_t head = 0, outstanding = 0;
    std::int64_t freed = 0; ///< client: when a full in-flight window last got a place back
    /// Read-first: after a send, read again before going back to epoll, unless the last such
    /// read found nothing; then skip that many sends before trying again (a depth-1 loop on an
    /// idle path would only add an EAGAIN per transaction).
    std::uint32_t read_ahead_skip = 0;
};

/// The hooks of the rows below, in rr.cpp: see role_hooks for what each is for.
namespace rr_kind {
void prepare_client(worker& w, conn& c);
void prepare_server(worker& w, conn& c);
void start_client(worker& w, conn& c, std::int64_t now) noexcept;
void start_server(worker& w, conn& c, std::int64_t now) noexcept;
void client_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
void server_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
std::int64_t client_timer(worker& w, conn& c, std::int64_t now) noexcept;
} // namespace rr_kind

/// The hooks of a tcp_rr client.
inline constexpr role_hooks rr_client_row{.role = conn_role::rr_client,
                                          .prepare = rr_kind::prepare_client,
                                          .start = rr_kind::start_client,
                                          .event = rr_kind::client_event,
                                          .timer = rr_kind::client_timer,
                                          .window_end = tcp_window_end,
                                          .linger = tcp_linger,
                                          .figures = window_figures,
                                          .source = true};
/// The hooks of a tcp_rr server.
inline constexpr role_hooks rr_server_row{.role = conn_role::rr_server,
                                          .prepare = rr_kind::prepare_server,
                                          .start = rr_kind::start_server,
                                          .event = rr_kind::server_event,
                                          .window_end = tcp_window_end,
                                          .linger = tcp_linger,
                                          .figures = window_figures};

} // namespace kp::engine
