#pragma once
/// The scalar scenario parameters: one table with each name, value kind, the traffic kinds it
/// applies to and a description. The loader, the matrix, dry-run output and docs all follow it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "engine/core/job.hpp"
#include "engine/traffic/traffic.hpp"
#include "runner/plan/units.hpp"

namespace kp::runner {

/// What to do with the rest of the plan when an instance fails.
enum class on_error : std::uint8_t { continue_run, abort_run };

/// `tls:` as written: a mode, and for ktls which directions the kernel should take.
struct tls_setting {
    engine::tls_mode mode = engine::tls_mode::none;
    bool tx = true;
    bool rx = true;
    friend bool operator==(const tls_setting&, const tls_setting&) = default;
};

/// Every scalar parameter a scenario (or `defaults:`, or a `matrix:` axis) can set.
enum class param : std::uint8_t {
    traffic,
    client,
    server,
    direction,
    flows,
    workers,
    write_size,
    read_size,
    request_size,
    response_size,
    message_size, ///< request_size and response_size together, or write_size and read_size
    in_flight,
    close,
    rate,
    arrival,
    timeout,
    duration,
    warmup,
    repeat,
    tls,
    tls_version,
    cipher,
    verify,
    histograms,
    flow_detail,
    sndbuf,
    rcvbuf,
    nodelay,
    congestion,
    max_pacing_rate,
    zerocopy,
    on_error,
    setup
};
inline constexpr std::size_t param_count = static_cast<std::size_t>(param::setup) + 1;

/// How a parameter's value is written.
enum class param_kind : std::uint8_t {
    count,
    size,
    duration,
    rate,
    bit_rate,
    boolean,
    host,
    word,
    traffic,
    direction,
    arrival,
    crr_close,
    tls,
    tls_version,
    cipher,
    on_error
};

/// A parsed value. Sizes and counts are uint64; bit rates are double bits/s.
using param_value = std::variant<std::uint64_t, double, std::chrono::nanoseconds, rate, bool, std::string,
                                 engine::traffic, engine::direction, engine::arrival, engine::crr_close,
                                 tls_setting, engine::tls_version, engine::tls_cipher, on_error>;

/// Bit mask of traffic kinds, bit i = engine::traffic(i).
using traffic_mask = std::uint8_t;
static_assert(engine::traffic_count <= 8 * sizeof(traffic_mask));
[[nodiscard]] constexpr traffic_mask mask_of(engine::traffic t) {
    return traffic_mask(1u << unsigned(t));
}
/// The kinds whose descriptor row satisfies `pred`, e.g. the searchable ones.
template <class Pred> [[nodiscard]] constexpr traffic_mask traffic_where(Pred pred) {
    traffic_mask m = 0;
    for (const auto& row : engine::traffic_table)
        if (pred(row)) m |= mask_of(row.kind);
    return m;
}
/// Every kind in the descriptor.
inline constexpr traffic_mask all_traffic = traffic_where([](const engine::traffic_info&) { return true; });

/// Static facts about one parameter.
struct param_info {
    std::string_view name;
    param_kind kind;
    traffic_mask applies_to;
    std::uint64_t min = 0, max = 0; ///< bounds for counts and sizes
    std::string_view description;
};

/// The facts of `p`.
[[nodiscard]] const param_info& info(param p);
/// The parameter called `name`.
[[nodiscard]] std::optional<param> param_from_name(std::string_view name);
/// Every parameter name, in table order (for did-you-mean).
[[nodiscard]] std::span<const std::string_view> param_names();

/// Parses a scalar written for `p`; the error says what was expected.
[[nodiscard]] parsed<param_value> parse_param(param p, std::string_view text);
/// The value in plan syntax, e.g. "64KiB", "10s", "tcp_rr".
[[nodiscard]] std::string format_param(param p, const param_value& v);

/// Names of enum values in plan syntax.
[[nodiscard]] std::string_view name_of(engine::traffic t);
[[nodiscard]] std::string_view name_of(engine::direction d);
[[nodiscard]] std::string_view name_of(engine::arrival a);
[[nodiscard]] std::string_view name_of(engine::crr_close c);
[[nodiscard]] std::string_view name_of(engine::tls_mode m);
[[nodiscard]] std::string_view name_of(engine::tls_version v);
[[nodiscard]] std::string_view name_of(engine::tls_cipher c);
[[nodiscard]] std::string_view name_of(on_error e);
/// The traffic kinds in `mask`, e.g. "tcp_rr, tcp_crr or udp_rr".
[[nodiscard]] std::string describe(traffic_mask mask);

} // namespace kp::runner
