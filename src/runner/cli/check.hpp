#pragma once
/// `kperf-plan check PLAN`: the preflight. Starts every agent the plan needs, prints what each
/// reports, checks the placement rules against them and probes every client-server pair with a
/// short exchange (runner/orchestrate/check.hpp); measures nothing and writes no reports.
#include "runner/orchestrate/options.hpp"

namespace kp::runner {

struct plan; // runner/plan/plan.hpp

/// Checks the plan's hosts; returns 0 (all good), 2 (a placement rule cannot hold) or 3 (a host
/// or a pair cannot be reached), as `run` would.
int check_plan(const plan& p, const run_options& options);

} // namespace kp::runner
