#pragma once
/// How far a metric may move before `compare` (and `run --baseline`) calls it a regression:
/// a scenario's `gate:` entries and the CLI's `--tolerance METRIC=5%` items. A tolerance takes
/// its unit ("5%") or is "off"; a bare number is refused, because "5" reads as 5% to one user
/// and as 500% to another (it used to mean the latter and silently turned the gate off).
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "runner/plan/diagnostics.hpp"
#include "runner/plan/metric.hpp"
#include "runner/plan/units.hpp"

namespace kp::runner {

/// One gate setting, e.g. `throughput_bps: 5%` or `latency_p99: off`.
struct gate_entry {
    metric which = metric::throughput_bps;
    std::optional<double> tolerance; ///< relative (0.05 for 5%); nullopt: off, never gated
    std::string text;                ///< as written: "5%" or "off"
    source_loc loc;
};

/// Parses `metric: text`. The error names an unknown metric with a did-you-mean, or says that
/// a percentage or `off` was expected.
[[nodiscard]] parsed<gate_entry> parse_gate(std::string_view metric_name, std::string_view text);

/// Gate settings by metric; a later setting of the same metric replaces an earlier one.
using gate_map = std::map<metric, std::optional<double>>;

/// "unknown metric 'x', did you mean 'y'?" (or without the hint when nothing is close).
[[nodiscard]] std::string unknown_metric(std::string_view name);

} // namespace kp::runner
