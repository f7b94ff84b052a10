#pragma once
/// `search:` as a plan states it: find the highest offered rate (open loop) whose probe meets
/// the SLO and achieves at least 98% of what it offered. runner/orchestrate/search.hpp runs it.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "runner/plan/diagnostics.hpp"
#include "runner/plan/expect.hpp"
#include "runner/plan/units.hpp"

namespace kp::runner {

/// A probe passes only when it achieves at least this share of the rate it offered.
inline constexpr double search_min_achieved = 0.98;
/// Default and largest `max_probes`.
inline constexpr std::uint32_t search_default_probes = 24, search_max_probes = 200;

/// `search: {rate: [1k/s, 2M/s], slo: {latency_p99: "< 1ms"}, precision: 5%}`.
struct search_rule {
    rate low, high;               ///< as written (messages/s or bits/s)
    double low_per_s = 0;         ///< messages/s; set by expansion (bit rates use the message size)
    double high_per_s = 0;        ///< messages/s; set by expansion
    std::vector<expectation> slo; ///< checked on every probe
    double precision = 0.05;      ///< stop bisecting once (fail - pass) / pass is at most this
    std::uint32_t max_probes = search_default_probes;
    std::chrono::nanoseconds probe_duration{0}; ///< 0: the scenario's `duration` (set by expansion)
    std::chrono::nanoseconds max_time{0};       ///< 0: bounded by max_probes only
    source_loc loc;
};

} // namespace kp::runner
