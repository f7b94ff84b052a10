#pragma once
/// `kperf-plan run PLAN`: orchestrates every instance of a validated plan and writes the reports.
#include "runner/orchestrate/options.hpp"

namespace kp::runner {

struct plan; // runner/plan/plan.hpp

/// Runs the plan; returns the exit code (0 ok, 1 expectations/regressions failed, 3 infrastructure).
int run_plan(const plan& p, const run_options& options);

} // namespace kp::runner
