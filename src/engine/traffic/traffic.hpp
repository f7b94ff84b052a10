#pragma once
/// The traffic-kind descriptor: one constexpr row per workload, the only place that says what a
/// kind is (tcp or udp; stream, rr or crr), which message sizes it uses, its defaults, its
/// headline figure and service-demand unit, and whether it can be searched or proxied. Every
/// layer reads this table instead of re-deriving "is it UDP" or "is it a stream".
/// Adding a kind: one row here, its engine file with its roles' hooks (registered in
/// engine/traffic/kinds.hpp and engine/traffic/role.hpp), its tests, docs and schema entries.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "engine/core/job.hpp"
#include "engine/traffic/role.hpp"

namespace kp::engine {

/// The transport a kind runs over.
enum class transport : std::uint8_t { tcp, udp };
/// How a kind exchanges messages: a one-way stream, request/response on lasting connections,
/// or one connection per request/response.
enum class exchange : std::uint8_t { stream, rr, crr };
/// The figure a kind is judged by (what the summary prints first, what `until:` watches).
enum class headline : std::uint8_t { throughput, transactions, connections };

/// Bit set of the message-size fields of job_spec a kind uses.
enum size_field : std::uint8_t {
    uses_write_size = 1u << 0,
    uses_read_size = 1u << 1,
    uses_request_size = 1u << 2,
    uses_response_size = 1u << 3,
};

/// The largest UDP payload over IPv4.
inline constexpr std::uint32_t max_udp_payload = 65507;

/// Static facts about one traffic kind.
struct traffic_info {
    traffic kind;
    std::string_view name; ///< plan and report spelling, e.g. "tcp_rr"
    transport proto;
    exchange pattern;
    std::uint8_t sizes;               ///< size_field bits
    std::uint32_t default_write_size; ///< job default when the plan does not set write_size
    bool pipelined;                   ///< in_flight applies (requests pipelined per flow)
    bool directional;                 ///< direction (forward/reverse/bidir) applies
    headline head;
    std::string_view service_demand_unit; ///< "s/GB" or "us/transaction"
    bool searchable;                      ///< `search:` can probe it (open loop at a rate)
    bool proxyable;                       ///< `via:` can forward it
    /// The engine roles of its connections, client and server side. A directional kind lists
    /// them as in `forward` (the client sends); a connection whose server sends swaps them.
    /// tcp_crr: the server side keeps no lasting connection, so it has no role of its own.
    conn_role client_role, server_role;
    [[nodiscard]] constexpr bool udp() const { return proto == transport::udp; }
    [[nodiscard]] constexpr bool tcp() const { return proto == transport::tcp; }
    [[nodiscard]] constexpr bool stream() const { return pattern == exchange::stream; }
    [[nodiscard]] constexpr bool crr() const { return pattern == exchange::crr; }
    [[nodiscard]] constexpr bool uses(size_field f) const { return (sizes & f) != 0; }
};

inline constexpr std::size_t traffic_count = 5;

/// One row per kind, in enum order.
inline constexpr std::array<traffic_info, traffic_count> traffic_table = {{
    {traffic::tcp_stream, "tcp_stream", transport::tcp, exchange::stream, uses_write_size | uses_read_size,
     64 * 1024, false, true, headline::throughput, "s/GB", false, true, conn_role::stream_send,
     conn_role::stream_recv},
    {traffic::tcp_rr, "tcp_rr", transport::tcp, exchange::rr, uses_request_size | uses_response_size,
     64 * 1024, true, false, headline::transactions, "us/transaction", true, true, conn_role::rr_client,
     conn_role::rr_server},
    {traffic::tcp_crr, "tcp_crr", transport::tcp, exchange::crr, uses_request_size | uses_response_size,
     64 * 1024, false, false, headline::connections, "us/transaction", true, true, conn_role::crr_client,
     conn_role::crr_client},
    {traffic::udp_stream, "udp_stream", transport::udp, exchange::stream, uses_write_size | uses_read_size,
     1472, false, true, headline::throughput, "s/GB", true, false, conn_role::udp_send,
     conn_role::udp_recv}, // 1472: fits a 1500 MTU
    {traffic::udp_rr, "udp_rr", transport::udp, exchange::rr, uses_request_size | uses_response_size, 1472,
     true, false, headline::transactions, "us/transaction", true, false, conn_role::udp_rr_client,
     conn_role::udp_rr_server},
}};

/// The facts of `t`.
[[nodiscard]] constexpr const traffic_info& info(traffic t) {
    return traffic_table[static_cast<std::size_t>(t)];
}

/// The kind spelled `name` in plans and reports.
[[nodiscard]] constexpr std::optional<traffic> traffic_from_name(std::string_view name) {
    for (const auto& row : traffic_table)
        if (row.name == name) return row.kind;
    return std::nullopt;
}

static_assert(
    [] {
        for (std::size_t i = 0; i < traffic_count; ++i)
            if (static_cast<std::size_t>(traffic_table[i].kind) != i) return false;
        return true;
    }(),
    "traffic_table rows must follow enum class traffic");

} // namespace kp::engine
