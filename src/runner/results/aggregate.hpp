#pragma once
/// The aggregate of one instance over its repeats: per metric the headline value, median, min,
/// max and 95% CI; latency percentiles from the histogram merged over all repeats.
#include <optional>
#include <span>
#include <vector>

#include "engine/stats/histogram.hpp"
#include "runner/results/metrics.hpp"
#include "runner/results/stats.hpp"

namespace kp::runner {

/// One metric over the repeats of an instance.
struct metric_aggregate {
    metric which = metric::throughput_bps;
    /// The headline figure: the mean for rates and CPU; for latency metrics the percentile of
    /// the merged histogram (never an average of percentiles).
    double value = 0;
    summary_stats stats;            ///< over the per-repeat values
    std::vector<double> per_repeat; ///< in repeat order, repeats lacking the metric skipped
};

/// Everything aggregated for one instance.
struct instance_aggregate {
    std::vector<metric_aggregate> metrics; ///< only metrics present in at least one repeat
    engine::histogram latency;             ///< client latency merged over all repeats
    /// The aggregate of `m`, or nullptr when no repeat measured it.
    [[nodiscard]] const metric_aggregate* find(metric m) const;
};

/// Aggregates repeats: `values[i]` are the metrics of repeat i and `latencies[i]` its client
/// latency histogram (both spans have the same length).
[[nodiscard]] instance_aggregate aggregate_repeats(std::span<const metric_values> values,
                                                   std::span<const engine::histogram> latencies);

struct repeat_record; // runner/results/record.hpp
/// aggregate_repeats over recorded repeats: their metrics and client latencies.
[[nodiscard]] instance_aggregate aggregate_of(std::span<const repeat_record> repeats);

} // namespace kp::runner
