#pragma once
/// `kperf-plan baseline PLAN --runs N -o DIR`: runs the plan N times into DIR/run-1 ... run-N
/// and writes DIR/baseline.json, the calibration (runner/results/calibrate.hpp) that `compare
/// DIR NEW` and `run --baseline DIR` gate against.
#include "runner/orchestrate/options.hpp"

namespace kp::runner {

struct plan; // runner/plan/plan.hpp

/// Returns the exit code: 0 calibrated, 2 bad usage, 3 when a run failed (no baseline written).
int baseline_plan(const plan& p, int runs, const run_options& options);

} // namespace kp::runner
