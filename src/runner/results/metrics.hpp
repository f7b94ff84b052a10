#pragma once
/// The values of the metrics (runner/plan/metric.hpp) for one run of one instance, derived from
/// both sides' results.
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"
#include "runner/plan/metric.hpp"

namespace kp::runner {

/// Derives the metrics of one run of an instance from the client's and the server's results.
[[nodiscard]] metric_values derive_metrics(engine::traffic kind, const engine::side_result& client,
                                           const engine::side_result& server);

/// The latency percentile (in µs) of a histogram for a latency metric; nullopt when empty.
[[nodiscard]] std::optional<double> latency_from(const engine::histogram& h, metric m);

/// The metric an `until:` rule watches: throughput for streams, rates for rr/crr.
[[nodiscard]] metric headline_metric(engine::traffic kind);

} // namespace kp::runner
