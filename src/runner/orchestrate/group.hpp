#pragma once
/// Groups (plan.hpp scenario::members): every member's server listens and client connects, all
/// data connections are completed, and then every side on every host starts at one instant of
/// the runner's clock, translated into each host's clock by its estimated offset. The group's
/// window is the intersection of all its members' windows; each host's CPU is counted once.
#include "runner/orchestrate/hosts.hpp"
#include "runner/plan/expand.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// Runs group instance `g` (repeats, `until`, compare_idle) and returns its record, with every
/// member's record inside. Never throws; failures are recorded.
[[nodiscard]] instance_record run_group(const plan& p, const instance& g, agent_pool& pool, progress& prog);

/// The group metrics of one repeat from its members' repeats (`members[i]` is the repeat of
/// g.members[i]); `merged` receives the latency merged over the latency members when they are of
/// one kind. Exposed for tests.
[[nodiscard]] metric_values group_metrics(const instance& g, const std::vector<const repeat_record*>& members,
                                          engine::histogram& merged);

/// Jain's fairness index (sum x)^2 / (n sum x^2) of `xs`; 1 when empty or all zero.
[[nodiscard]] double jain_index(const std::vector<double>& xs);

} // namespace kp::runner
