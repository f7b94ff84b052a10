#pragma once
/// The figures the runner derives for one run of one instance from both sides' results:
/// the vocabulary shared by aggregates, reports, `expect:` checks and `compare`.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "engine/job.hpp"
#include "engine/result.hpp"

namespace kp::runner {

/// Every derived metric. Names (metric_info::name) are stable: reports and plans use them.
enum class metric : std::uint8_t {
    throughput_bps,     ///< goodput, bits/s, counted by the receiving side(s)
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
};
inline constexpr std::size_t metric_count = 17;

/// Which way is better, for regressions.
enum class better : std::uint8_t { higher, lower, none };

/// Static facts about a metric.
struct metric_info {
    std::string_view name; ///< e.g. "latency_p99"
    std::string_view unit; ///< e.g. "us"
    better direction;
    double tolerance; ///< default relative regression tolerance; 0: not gated by compare
    bool is_latency;  ///< taken from the merged histogram in aggregates
};

/// The facts of `m`.
[[nodiscard]] const metric_info& info(metric m);
/// The metric called `name`, if any.
[[nodiscard]] std::optional<metric> metric_from_name(std::string_view name);
/// All metrics in declaration order.
[[nodiscard]] std::array<metric, metric_count> all_metrics();

/// One value per metric; absent where it does not apply (e.g. latency of a stream).
using metric_values = std::array<std::optional<double>, metric_count>;

/// Derives the metrics of one run of an instance from the client's and the server's results.
[[nodiscard]] metric_values derive_metrics(engine::traffic kind, const engine::side_result& client,
                                           const engine::side_result& server);

/// The latency percentile (in µs) of a histogram for a latency metric; nullopt when empty.
[[nodiscard]] std::optional<double> latency_from(const engine::histogram& h, metric m);

/// The metric an `until:` rule watches: throughput for streams, rates for rr/crr.
[[nodiscard]] metric headline_metric(engine::traffic kind);

} // namespace kp::runner
