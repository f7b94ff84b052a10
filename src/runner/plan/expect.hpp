#pragma once
/// `expect:` entries as the plan states them: a known metric, a comparison, and a bound
/// converted to the metric's unit (runner/plan/metric.hpp: info(metric).unit). expect_eval.hpp
/// evaluates them on results.
#include <cstdint>
#include <string>
#include <string_view>

#include "runner/plan/diagnostics.hpp"
#include "runner/plan/units.hpp"

namespace kp::runner {

/// The comparisons of `expect:`.
enum class comparison : std::uint8_t { lt, le, gt, ge };

/// One check, e.g. `latency_p99: "< 800us"` -> {latency_p99, lt, 800 (us)}.
struct expectation {
    std::string metric;
    std::string member; ///< in a group, `probe.latency_p99` checks member "probe"; empty: the group
    comparison op = comparison::lt;
    double bound = 0; ///< in the metric's unit
    std::string text; ///< as written, e.g. "< 800us"
    source_loc loc;
};

/// Parses `metric: text`. The error names the unknown metric (with did-you-mean) or says
/// which comparison and unit were expected.
[[nodiscard]] parsed<expectation> parse_expectation(std::string_view metric, std::string_view text);
/// True when `name` is a metric an expectation may name (then a parse error is in its bound).
[[nodiscard]] bool is_metric_name(std::string_view name);

/// "<", "<=", ">", ">=".
[[nodiscard]] std::string_view symbol(comparison c);

} // namespace kp::runner
