#pragma once
/// The instance loop: every instance of the plan, one after another (instances never share
/// CPUs, so placement conflicts between concurrent instances cannot arise), each repeated per
/// `repeat:` / `until:`, aggregated, checked against `expect:`, and handed to `persist`.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "runner/orchestrate/hosts.hpp"
#include "runner/plan/expand.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// Runs one instance on the pool's agents and returns its record (never throws, never fails:
/// failures are recorded in the record).
[[nodiscard]] instance_record run_instance(const plan& p, const instance& inst, agent_pool& pool,
                                           progress& prog);

/// Runs `instances` in order into `run.instances`, calling `persist` after each one. Honours
/// on_error: abort (the rest are recorded as skipped) and interrupts (likewise).
void run_instances(const plan& p, const std::vector<instance>& instances, agent_pool& pool, progress& prog,
                   run_record& run, const std::function<void(const instance_record&)>& persist);

/// Placement rules that can never hold on the hosts as their agents reported them, formatted
/// as plan diagnostics (empty: all fine).
[[nodiscard]] std::string check_placements(const plan& p, const std::vector<instance>& instances,
                                           const agent_pool& pool);

/// The data-plane address of plan host `host` as the plan gives it (`auto` unresolved: empty).
[[nodiscard]] std::string address_of(const plan& p, const std::string& host);
/// The data-plane address of plan host `host`: what its agents listen on and connect to, as the
/// pool resolved it (`address: auto`), else as the plan gives it.
[[nodiscard]] std::string address_of(const plan& p, const agent_pool& pool, const std::string& host);

/// Why `host` has no agent, as an instance failure (its start failure, else "no agent").
[[nodiscard]] failure_reason host_unavailable(const agent_pool& pool, const std::string& host);

/// A fresh record of `inst` (ids, hosts, jobs) before anything ran.
[[nodiscard]] instance_record record_of(const instance& inst);

/// The planned traffic time of an instance: (warm-up + duration) x repeats (max_repeat with until).
[[nodiscard]] std::chrono::nanoseconds planned_time(const instance& inst);
/// The send lateness (µs) above which the client's own delays qualify an instance's latencies:
/// 20 µs, or a tenth of the tightest latency bound it checks (expect:, search slo:), whichever
/// is larger.
[[nodiscard]] double lateness_limit_us(const instance& inst);
/// Warnings for sides whose window (start to end, their own clock) lasted more than 5% longer
/// than planned: a stopped or starved agent; its rates are over the planned length.
[[nodiscard]] std::vector<std::string> window_overruns(const instance& inst, const instance_record& rec);
/// Warnings for repeats whose server refused connections without the run's token (any kind):
/// something else reached its data port while it ran, and may have loaded it.
[[nodiscard]] std::vector<std::string> rejected_hello_warnings(const instance_record& rec);
/// Above this share of a host's CPU time taken by the hypervisor (/proc/stat steal) over a
/// window, the window's figures are flagged as the VM's.
inline constexpr double steal_warn_share = 0.02;
/// The larger of the two sides' steal shares: steal seconds / (window x CPUs) from the sides'
/// /proc/stat windows; 0 when neither has one.
[[nodiscard]] double steal_share(const repeat_record& rep);
/// Warnings for repeats whose steal_share exceeded steal_warn_share.
[[nodiscard]] std::vector<std::string> steal_warnings(const instance_record& rec);
/// A warning when the client's paced sends left later than lateness_limit_us (p99, µs).
[[nodiscard]] std::optional<std::string> lateness_warning(const instance& inst, std::optional<double> p99_us);
/// Above this share of paced sends held for an in-flight place (side_result::sends_held), the
/// offered rate queued behind the peer's replies.
inline constexpr double held_warn_share = 0.1;
/// A warning when more than held_warn_share of the client's paced sends, over all repeats,
/// waited for an in-flight place.
[[nodiscard]] std::optional<std::string> held_warning(const instance& inst, const instance_record& rec);
/// Both of the above for a finished instance (rec.aggregate set).
[[nodiscard]] std::vector<std::string> paced_warnings(const instance& inst, const instance_record& rec);

} // namespace kp::runner
