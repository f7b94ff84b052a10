#pragma once
/// Peak search: short open-loop probes at offered rates, an exponential ramp from the low end
/// (x2 per step) until a probe fails, then bisection between the last pass and the first fail
/// until the bracket is within the precision; bounded in probes and in time.
/// A probe passes iff every SLO entry holds on its metrics AND it achieved at least 98% of the
/// offered rate (an overloaded generator or system must not pass by doing less).
/// One noisy probe must not decide the bracket: a rate whose first probe fails, or passes above
/// a rate some probe failed at, gets a second probe; when the two disagree a third decides (the
/// rate's verdict is 2 of 3). A probe that failed on latency alone while the client's own sends
/// left late (send_lateness_p99 above the lateness limit) is not counted, once per rate: the rate
/// is probed again, because that verdict may be the client's, not the system's. Each probe lasts long enough to hold 10/(1 - q) latency samples
/// for the SLO's highest percentile q at the offered rate.
#include <chrono>
#include <expected>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "runner/orchestrate/repeat.hpp"
#include "runner/plan/search_rule.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/record.hpp"
#include "runner/results/search_record.hpp"

namespace kp::runner {

/// The longest a probe is stretched to for its samples (a `probe_duration` above it is kept).
inline constexpr std::chrono::seconds search_max_sample_duration{30};

/// What one probe measured.
struct probe_measurement {
    double achieved = 0; ///< messages/s completed (rr/crr) or received (udp_stream)
    std::uint64_t samples = 0; ///< latency samples in the window (0 for udp_stream)
    metric_values metrics{};
};

/// Runs one probe at `offered` messages/s for `duration`; `index` is the probe's number (0-based).
using probe_fn = std::function<std::expected<probe_measurement, failure_reason>(
    double offered, std::chrono::nanoseconds duration, std::size_t index)>;
/// Time since the search began (a fake in tests).
using elapsed_fn = std::function<std::chrono::nanoseconds()>;
/// Called after each probe is judged (progress lines).
using probe_observer = std::function<void(const probe_record&)>;

/// The search's result; `failure` is set when a probe could not run (the search stops there).
struct search_run {
    search_record record;
    std::optional<failure_reason> failure;
};

/// Latency samples a probe needs for the SLO: 10/(1 - q) for its highest latency percentile q
/// (1,000 for p99, 10,000 for p99.9); 0 when the SLO has no percentile.
[[nodiscard]] std::uint64_t samples_needed(const search_rule& rule);

/// How long a probe at `offered` messages/s measures: `probe_duration`, stretched to
/// samples_needed / offered, but not beyond search_max_sample_duration (or `probe_duration`
/// if that is longer).
[[nodiscard]] std::chrono::nanoseconds probe_duration_at(const search_rule& rule, double offered);

/// Every passing probe at or above a rate where some probe failed, each paired with the failed
/// probe of the lowest rate (the search's evidence that load and verdict are not monotonic).
[[nodiscard]] std::vector<inversion> find_inversions(const std::vector<probe_record>& probes);

/// Judges a probe: the SLO entries on `m.metrics`, then the achieved share of `offered`.
[[nodiscard]] probe_record judge_probe(const search_rule& rule, double offered, const probe_measurement& m);

/// The search loop over `probe` (pure: all effects go through `probe`, `elapsed` and `seen`).
/// A probe whose send_lateness_p99 exceeds `late_limit_us` is marked late_sends.
[[nodiscard]] search_run search_peak(const search_rule& rule, const probe_fn& probe,
                                     const elapsed_fn& elapsed, const probe_observer& seen = {},
                                     double late_limit_us = std::numeric_limits<double>::infinity());

/// Runs `ctx.inst`'s search on its two agents (one run_repeat per probe, job.rate = the offered
/// rate, job.duration = the probe duration) into `rec`: rec.search, and rec.repeats holds the
/// run at the peak, so the aggregate and `expect:` describe the peak.
void run_search(const repeat_context& ctx, progress& prog, instance_record& rec);

/// "1.5M/s" for a message rate.
[[nodiscard]] std::string rate_text(double per_s);

} // namespace kp::runner
