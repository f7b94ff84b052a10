#pragma once
/// What a peak search records: every probe (offered and achieved rate, metrics, verdict and
/// why) and the result, the peak rate with the bracket it lies in.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runner/results/metrics.hpp"

namespace kp::runner {

/// One SLO entry evaluated on one probe.
struct slo_outcome {
    std::string metric;             ///< e.g. "latency_p99"
    std::string text;               ///< as written, e.g. "< 1ms"
    std::optional<double> measured; ///< in the metric's unit; absent: not measured (fails)
    bool passed = false;
};

/// One short open-loop run at one offered rate.
struct probe_record {
    std::size_t index = 0;
    std::string phase;   ///< "ramp" or "bisect"
    /// 1: the rate's first probe; 2: its confirmation; 3: the tie-break when 1 and 2 disagree
    /// (one more, 4, when a failure was not counted).
    std::uint8_t attempt = 1;
    double duration_s = 0;     ///< measured window asked for (probe_duration, stretched for samples)
    std::uint64_t samples = 0; ///< latency samples in the window (0 for udp_stream)
    double offered = 0;  ///< messages/s asked of the engine
    double achieved = 0; ///< messages/s completed (rr/crr) or received (udp_stream)
    metric_values metrics{};
    std::vector<slo_outcome> slo;
    bool passed = false;
    std::string why; ///< "" when passed; else the first reason, e.g. "latency_p99 < 1ms: measured 1.3 ms"
    /// The client's paced sends left later than the instance's lateness limit: the verdict may be
    /// the client's, not the system's (orchestrate.hpp lateness_limit_us).
    bool late_sends = false;
    /// false: a failure not counted as the rate's vote, because it failed on latency alone while
    /// its sends left late (the client fell behind its own schedule); the rate was probed again.
    /// Once per rate: a second such failure counts.
    bool counted = true;
    /// The share of CPU time the hypervisor took during the probe (orchestrate.hpp steal_share).
    double steal_share = 0;
};

/// A passing probe at or above a rate a probe failed at: load and verdict are not monotonic.
struct inversion {
    std::size_t pass_index = 0, fail_index = 0; ///< the probes
    double pass_offered = 0, fail_offered = 0;  ///< their offered rates, messages/s
};

/// How a search ended.
enum class search_outcome : std::uint8_t {
    bracketed,    ///< peak in [last pass, first fail], within precision
    top_of_range, ///< the SLO held at the top of the range
    below_range,  ///< not met even at the low end
    unresolved,   ///< out of probes or time before the bracket was narrow enough
    failed,       ///< a probe could not run (the instance's failure says why)
};

/// The probes and the result of one search.
struct search_record {
    std::vector<probe_record> probes;
    search_outcome outcome = search_outcome::failed;
    std::optional<double> peak;         ///< the highest passing offered rate, messages/s
    std::optional<double> bracket_low;  ///< last pass (= peak)
    std::optional<double> bracket_high; ///< first fail above it; absent at the top of the range
    std::string stopped;                ///< why the loop stopped, for humans
    std::uint64_t samples_needed = 0;   ///< latency samples each probe aims for (0: no percentile SLO)
    std::vector<inversion> inversions;  ///< non-monotonic outcomes, by pass_index
};

/// "not monotonic: 2 probe(s) passed at or above a failed rate (widest: 8k/s passed, 4k/s
/// failed)", or "" when the probes are monotonic (the summary and the progress line).
[[nodiscard]] std::string inversions_text(const search_record& s);

/// "bracketed", "top_of_range", "below_range", "unresolved", "failed".
[[nodiscard]] const char* to_string(search_outcome o);

} // namespace kp::runner
