#pragma once
/// Evaluates `expect:` checks on an instance's aggregate (parsing them is the plan's job).
#include <optional>
#include <string>

#include "engine/traffic/traffic.hpp"

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

/// "latency_p99 < 800us: measured 912 us (95% CI 850 us .. 980 us)", or "... not measured"; the
/// figures in the unit of a `kind` instance (runner/plan/human.hpp; service demand needs the kind).
[[nodiscard]] std::string describe_check(const check_result& c,
                                         std::optional<engine::traffic> kind = std::nullopt);

} // namespace kp::runner
