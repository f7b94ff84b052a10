#pragma once
/// udp_stream and udp_rr: the state and hooks of their four roles (udp.cpp). Each flow has a
/// connected UDP data socket and its TCP control connection, which carries the sender's end note.
#include <cstdint>
#include <vector>

#include "engine/traffic/role.hpp"

namespace kp::engine {

/// A udp_stream sender: the next sequence number, and what it marked as sent in its window.
struct udp_send_state {
    std::uint64_t seq = 0;
    std::uint64_t measured_sent = 0, measured_bytes = 0;
};

/// A udp_stream receiver: sequence tracking over a sliding bitmap of recent sequence numbers,
/// and the sender's end note (how many datagrams it marked) as it arrives.
struct udp_recv_state {
    std::uint64_t next_expected = 0;
    std::vector<std::uint64_t> seen;
    std::uint64_t peer_measured_sent = 0;
    bool got_end = false;
    std::uint32_t end_have = 0;
    std::byte end_buf[16]{};
};

/// A udp_rr client: one slot per request in flight, with its scheduled send time (0 = free; the
/// latency counts from it), the time it actually left (a reply is lost `timeout` after that:
/// a client behind its schedule must not lose replies it has not waited for) and its sequence.
struct udp_rr_client_state {
    std::vector<std::int64_t> stamps;
    std::vector<std::int64_t> sent_at;
    std::vector<std::uint64_t> slot_seq;
    std::uint32_t head = 0, outstanding = 0;
    std::uint64_t seq = 0;
    std::int64_t freed = 0; ///< when a full in-flight window last got a place back
};

/// A udp_rr server keeps nothing: it echoes each request's header.
struct udp_rr_server_state {};

/// The hooks of the rows below, in udp.cpp: see role_hooks for what each is for.
namespace udp_kind {
void prepare_send(worker& w, conn& c);
void prepare_recv(worker& w, conn& c);
void prepare_rr_client(worker& w, conn& c);
void prepare_rr_server(worker& w, conn& c);
void start_send(worker& w, conn& c, std::int64_t now) noexcept;
void start_reader(worker& w, conn& c, std::int64_t now) noexcept; ///< receiver and rr server
void start_rr_client(worker& w, conn& c, std::int64_t now) noexcept;
void send_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
void recv_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
void rr_client_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
void rr_server_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
std::int64_t send_timer(worker& w, conn& c, std::int64_t now) noexcept;
std::int64_t rr_client_timer(worker& w, conn& c, std::int64_t now) noexcept;
void send_window_end(worker& w, conn& c) noexcept;
void recv_window_end(worker& w, conn& c) noexcept;
void quiet_window_end(worker& w, conn& c) noexcept; ///< udp_rr: stop reading and writing
void recv_linger(worker& w, conn& c, std::uint32_t events, bool control) noexcept;
void control_linger(worker& w, conn& c, std::uint32_t events, bool control) noexcept;
counters send_figures(const conn& c) noexcept;
counters recv_figures(const conn& c) noexcept;
} // namespace udp_kind

/// The hooks of a udp_stream sender.
inline constexpr role_hooks udp_send_row{.role = conn_role::udp_send,
                                         .prepare = udp_kind::prepare_send,
                                         .start = udp_kind::start_send,
                                         .event = udp_kind::send_event,
                                         .timer = udp_kind::send_timer,
                                         .window_end = udp_kind::send_window_end,
                                         .linger = udp_kind::control_linger,
                                         .figures = udp_kind::send_figures,
                                         .source = true,
                                         .sender = true};
/// The hooks of a udp_stream receiver.
inline constexpr role_hooks udp_recv_row{.role = conn_role::udp_recv,
                                         .prepare = udp_kind::prepare_recv,
                                         .start = udp_kind::start_reader,
                                         .event = udp_kind::recv_event,
                                         .window_end = udp_kind::recv_window_end,
                                         .linger = udp_kind::recv_linger,
                                         .figures = udp_kind::recv_figures,
                                         .reads_control = true};
/// The hooks of a udp_rr client. `timed`: replies later than the timeout are lost.
inline constexpr role_hooks udp_rr_client_row{.role = conn_role::udp_rr_client,
                                              .prepare = udp_kind::prepare_rr_client,
                                              .start = udp_kind::start_rr_client,
                                              .event = udp_kind::rr_client_event,
                                              .timer = udp_kind::rr_client_timer,
                                              .window_end = udp_kind::quiet_window_end,
                                              .linger = udp_kind::control_linger,
                                              .figures = window_figures,
                                              .source = true,
                                              .timed = true};
/// The hooks of a udp_rr server.
inline constexpr role_hooks udp_rr_server_row{.role = conn_role::udp_rr_server,
                                              .prepare = udp_kind::prepare_rr_server,
                                              .start = udp_kind::start_reader,
                                              .event = udp_kind::rr_server_event,
                                              .window_end = udp_kind::quiet_window_end,
                                              .linger = udp_kind::control_linger,
                                              .figures = window_figures};

} // namespace kp::engine
