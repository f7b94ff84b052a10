#pragma once
/// The metric vocabulary: every figure a run derives, with its name, unit and which way is
/// better. Plans name metrics in `expect:`, `search: slo:` and `--tolerance`; results/metrics.hpp
/// derives their values from the engine's results.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "engine/core/job.hpp"

namespace kp::runner {

/// Every derived metric. Names (metric_info::name) are stable: reports and plans use them.
enum class metric : std::uint8_t {
    throughput_bps,     ///< goodput, bits/s: streams' received bytes, rr/crr the client's responses
    transactions_per_s, ///< completed request/response pairs per second (client)
    connections_per_s,  ///< tcp_crr connections per second (client)
    latency_p50,
    latency_p90,
    latency_p99,
    latency_p999,
    latency_p9999,
    latency_min,
    latency_max,
    latency_mean,          ///< microseconds, client-side round trips
    loss_ratio,            ///< UDP datagrams lost / expected
    retransmits,           ///< TCP total_retrans over the window, both sides
    client_cpu_s,          ///< busy CPU seconds of the client host over the window
    server_cpu_s,          ///< busy CPU seconds of the server host over the window
    client_service_demand, ///< client CPU µs per transaction, or CPU s per GB for streams
    server_service_demand, ///< server CPU µs per transaction, or CPU s per GB for streams
    /// Jain's fairness index, 1: all equal. An instance: over its flows (the receiving side's
    /// per-flow headline). A group: over its stream members' goodput (else every member's headline).
    fairness,
    /// Open loop (`rate:`): the 99th percentile of how late the client's paced sends left
    /// against their schedule, µs. Latencies count from the schedule, so they include it.
    send_lateness_p99,
};
inline constexpr std::size_t metric_count = 19;

/// Which way is better, for regressions.
enum class better : std::uint8_t { higher, lower, none };

/// Static facts about a metric.
struct metric_info {
    std::string_view name; ///< e.g. "latency_p99"
    std::string_view unit; ///< e.g. "us"; service demand's names both kinds' units (see unit_of)
    better direction;
    double tolerance; ///< default relative regression tolerance; 0: not gated by compare
    bool is_latency;  ///< taken from the merged histogram in aggregates
};

/// The facts of `m`.
[[nodiscard]] const metric_info& info(metric m);
/// The percentile (0 < p < 100) a latency percentile metric reads, e.g. 99 for latency_p99.
[[nodiscard]] std::optional<double> percentile_of(metric m);
/// The metric called `name`, if any.
[[nodiscard]] std::optional<metric> metric_from_name(std::string_view name);
/// The unit of `m` in a `kind` instance: info(m).unit, but service demand is per transaction
/// (rr, crr: "us/transaction") or per GB (streams: "s/GB"), as results/metrics.cpp derives it.
[[nodiscard]] std::string_view unit_of(metric m, engine::traffic kind);
/// All metrics in declaration order.
[[nodiscard]] std::array<metric, metric_count> all_metrics();

/// True when a run of `kind` measures `m`, from the kind's descriptor row
/// (engine/traffic/traffic.hpp): rates and latency need transactions, connections_per_s needs
/// tcp_crr, loss_ratio UDP, retransmits TCP. results/metrics.cpp derive_metrics sets exactly
/// these (given non-zero counters; a test holds the two together). Plan checks use it to refuse
/// `expect:` and `search.slo` entries that could never be verified.
[[nodiscard]] bool measured_by(engine::traffic kind, metric m);
/// compare's default tolerance of `m` on an instance of `kind`: info(m).tolerance, except that
/// rr and crr throughput_bps (response bytes per transaction) moves with transactions_per_s, so
/// it is not gated by default and one drop is not reported twice.
[[nodiscard]] double default_tolerance(engine::traffic kind, metric m);
/// The metrics `kind` measures, in declaration order.
[[nodiscard]] std::vector<metric> measured_metrics(engine::traffic kind);

/// One value per metric; absent where it does not apply (e.g. latency of a stream).
using metric_values = std::array<std::optional<double>, metric_count>;

} // namespace kp::runner
