#pragma once
/// tcp_crr: one connection per transaction. The client role's state and hooks, and the server's
/// per-connection slot (crr.cpp). The server is no role: its workers accept from a listener
/// they share, so its state lives in the worker.
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/io.hpp"
#include "engine/tls/tls.hpp"
#include "engine/traffic/role.hpp"
#include "engine/worker/counters.hpp"

namespace kp::engine {

/// Stage of a tcp_crr client transaction.
enum class crr_stage : std::uint8_t { idle, connecting, handshaking, exchanging, closing };

/// A tcp_crr client flow: its succession of connections, one transaction each.
struct crr_client_state {
    crr_stage stage = crr_stage::idle;
    int fd = -1;
    std::int64_t t_sched = 0, t_connect = 0, t_close = 0, t_handshake = 0;
    std::int64_t freed = 0; ///< open loop: when the last transaction ended (the flow's place freed)
    std::vector<std::byte> request; ///< hello followed by the request bytes
    std::uint64_t sent = 0, received = 0;
    std::unique_ptr<tls::pending> hs; ///< TLS: the handshake in progress
    std::unique_ptr<stream_io> io;    ///< TLS: the session (owns fd)
};

/// Stage of a tcp_crr server connection, in the order a connection goes through them.
enum class crr_server_stage : std::uint8_t { hello, handshake, request, response, drain };

/// No slot: the end of the pending list.
inline constexpr std::uint32_t no_slot = UINT32_MAX;

/// One tcp_crr server connection, kept per worker.
struct crr_server_slot {
    int fd = -1;
    std::uint32_t flow = 0;
    std::int64_t accepted_ns = 0;                   ///< when accepted (the worker's clock)
    std::uint32_t older = no_slot, newer = no_slot; ///< in the hello stage: its neighbours, pending
    std::uint32_t have = 0;                         ///< hello bytes read
    std::uint64_t got = 0;                          ///< request bytes read
    std::uint64_t owed = 0;                         ///< response bytes to write
    crr_server_stage stage = crr_server_stage::hello;
    bool writing = false;             ///< waiting for EPOLLOUT too (a response larger than the send buffer)
    /// In the epoll set. A new connection is served at once and joins it only when it must wait
    /// (its request not all in yet): most are answered and closed with no epoll_ctl at all.
    bool watched = false;
    std::uint32_t interest = 0; ///< what it waits for (EPOLLIN, EPOLLOUT) while not watched
    std::byte hello_buf[272]{};       ///< hello_fixed_size + hello_max_token
    std::unique_ptr<tls::pending> hs; ///< TLS: the handshake in progress
    std::unique_ptr<stream_io> io;    ///< TLS: the session (owns fd)
};

/// One worker's share of the tcp_crr server: the connections it accepted from the listener every
/// worker shares (EPOLLEXCLUSIVE), one slot each, and each flow's counters.
/// A connection without a complete hello yet is pending, in order of acceptance. Identified
/// ones are about one per flow, so of the flows + 16 slots at least 16 are pending whenever
/// none is free: a new connection then takes the oldest pending one's slot, and that one is
/// refused. A real client sends its hello with the connect, so strays cannot starve it, however
/// many come; and none keeps its slot past the hello deadline.
struct crr_server {
    std::vector<crr_server_slot> slots;
    std::vector<std::uint32_t> free;                  ///< slots not in use
    std::vector<counters> live, begin;                ///< per flow: now, and at the window start
    std::size_t identified = 0;                       ///< slots past their hello: real flows' connections
    std::uint32_t oldest = no_slot, newest = no_slot; ///< the pending slots, oldest first
};

/// The hooks of the rows below, in crr.cpp: see role_hooks for what each is for.
namespace crr_kind {
void prepare(worker& w, conn& c);
void start(worker& w, conn& c, std::int64_t now) noexcept;
void event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
std::int64_t timer(worker& w, conn& c, std::int64_t now) noexcept;
void window_end(worker& w, conn& c) noexcept;
void linger(worker& w, conn& c, std::uint32_t events, bool control) noexcept;

// The server, which the worker drives when its context has a listener.
void server_prepare(worker& w, crr_server& s);
void server_accept(worker& w, crr_server& s, std::int64_t now) noexcept;
/// Refuses the pending connections older than the hello deadline; returns when the next one
/// will be (INT64_MAX: none pending).
std::int64_t server_expire(worker& w, crr_server& s, std::int64_t now) noexcept;
void server_event(worker& w, crr_server& s, std::uint32_t slot) noexcept;
void server_close(worker& w, crr_server& s, std::uint32_t slot) noexcept;
void server_window_begin(crr_server& s) noexcept;
void server_window_end(worker& w, crr_server& s) noexcept;
} // namespace crr_kind

/// The hooks of a tcp_crr client. `timed`: idle flows and the back-off after errors are timers.
inline constexpr role_hooks crr_client_row{.role = conn_role::crr_client,
                                           .prepare = crr_kind::prepare,
                                           .start = crr_kind::start,
                                           .event = crr_kind::event,
                                           .timer = crr_kind::timer,
                                           .window_end = crr_kind::window_end,
                                           .linger = crr_kind::linger,
                                           .figures = window_figures,
                                           .source = true,
                                           .timed = true};

} // namespace kp::engine
