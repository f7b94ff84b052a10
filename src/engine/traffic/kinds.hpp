#pragma once
/// The registry of traffic kinds on the engine side: the per-kind state a connection carries,
/// and the table of hook rows indexed by role. A new kind adds its state type to `kind_state`
/// and its rows to `role_rows`; the worker and the sessions need no change.
#include <array>
#include <variant>

#include "engine/traffic/crr.hpp"
#include "engine/traffic/role.hpp"
#include "engine/traffic/rr.hpp"
#include "engine/traffic/stream.hpp"
#include "engine/traffic/udp.hpp"

namespace kp::engine {

/// A connection's per-kind state; monostate until its role's `prepare` hook sizes it.
using kind_state =
    std::variant<std::monostate, stream_send_state, stream_recv_state, rr_state, crr_client_state,
                 udp_send_state, udp_recv_state, udp_rr_client_state, udp_rr_server_state>;

/// One row per role, in enum order.
inline constexpr std::array<role_hooks, role_count> role_rows = {
    stream_send_row, stream_recv_row, rr_client_row,     rr_server_row,     crr_client_row,
    udp_send_row,    udp_recv_row,    udp_rr_client_row, udp_rr_server_row,
};

/// The hooks of `r`.
[[nodiscard]] constexpr const role_hooks& hooks(conn_role r) noexcept {
    return role_rows[static_cast<std::size_t>(r)];
}

/// Every row has the hooks the worker calls unconditionally (only `timer` may be null).
[[nodiscard]] constexpr bool complete(const role_hooks& h) noexcept {
    return h.prepare != nullptr && h.start != nullptr && h.event != nullptr && h.window_end != nullptr &&
           h.linger != nullptr && h.figures != nullptr && (h.timer != nullptr || !h.timed);
}

static_assert(
    [] {
        for (std::size_t i = 0; i < role_rows.size(); ++i)
            if (static_cast<std::size_t>(role_rows[i].role) != i || !complete(role_rows[i])) return false;
        return true;
    }(),
    "role_rows: one complete row per role, in enum order");

} // namespace kp::engine
