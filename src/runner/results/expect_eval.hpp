#pragma once
/// Evaluates `expect:` checks on an instance's aggregate (parsing them is the plan's job).
#include <string>

#include "runner/results/aggregate.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// One check as the plan states it, the bound already in the metric's unit (info().unit).
struct check_spec {
    std::string metric;
    comparison op = comparison::lt;
    double bound = 0;
    std::string text; ///< as written, e.g. "< 800us"
};

/// Evaluates `spec` on the headline value of its metric. A metric that was not measured fails.
[[nodiscard]] check_result evaluate_check(const check_spec& spec, const instance_aggregate& aggregate);

/// "latency_p99 < 800us: measured 912 us (95% CI 850 .. 980 us)", or "... not measured".
[[nodiscard]] std::string describe_check(const check_result& c);

/// A number with an SI prefix for humans: 9.41G, 912, 1.2m.
[[nodiscard]] std::string human_number(double v);

} // namespace kp::runner
