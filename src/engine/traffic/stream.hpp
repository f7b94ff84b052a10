#pragma once
/// tcp_stream: the state and hooks of its two roles, a sender and a receiver (stream.cpp).
#include <cstdint>

#include "engine/traffic/role.hpp"

namespace kp::engine {

/// A tcp_stream sender: where it is in the payload pattern, and its zero-copy sends in flight.
struct stream_send_state {
    std::uint64_t tx_off = 0;    ///< stream offset into the payload pattern
    std::int64_t zc_pending = 0; ///< MSG_ZEROCOPY sends not yet completed
};

/// A tcp_stream receiver: where it is in the payload pattern (verify checks each byte there).
struct stream_recv_state {
    std::uint64_t rx_off = 0;
};

/// The hooks of the rows below, in stream.cpp: see role_hooks for what each is for.
namespace stream_kind {
void prepare_send(worker& w, conn& c);
void prepare_recv(worker& w, conn& c);
void start_send(worker& w, conn& c, std::int64_t now) noexcept;
void start_recv(worker& w, conn& c, std::int64_t now) noexcept;
void send_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
void recv_event(worker& w, conn& c, std::uint32_t events, bool control, std::int64_t now) noexcept;
} // namespace stream_kind

/// The hooks of a tcp_stream sender.
inline constexpr role_hooks stream_send_row{.role = conn_role::stream_send,
                                            .prepare = stream_kind::prepare_send,
                                            .start = stream_kind::start_send,
                                            .event = stream_kind::send_event,
                                            .window_end = tcp_window_end,
                                            .linger = tcp_linger,
                                            .figures = window_figures,
                                            .sender = true};
/// The hooks of a tcp_stream receiver.
inline constexpr role_hooks stream_recv_row{.role = conn_role::stream_recv,
                                            .prepare = stream_kind::prepare_recv,
                                            .start = stream_kind::start_recv,
                                            .event = stream_kind::recv_event,
                                            .window_end = tcp_window_end,
                                            .linger = tcp_linger,
                                            .figures = window_figures};

} // namespace kp::engine
