#pragma once
/// CPU placement of workers as pure functions (which CPU for a rule), kept apart from applying
/// it (pin_thread), plus the distinct_rx matching and its diagnosis.
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "engine/core/error.hpp"
#include "engine/core/job.hpp"

namespace kp::engine {

/// The CPU a worker is pinned to, or -1 for "do not pin". `allowed` must be ascending.
///   any:    -1.
///   rx:     rx_cpu if allowed, else the nearest allowed CPU (the lower one on a tie);
///           rx+N / rx-N: N positions further along `allowed`, wrapping around.
///           -1 when rx_cpu < 0 (unknown) or `allowed` is empty.
///   cpus:   worker k (0-based `worker_index`) gets cpus[k % cpus.size()], i.e. round robin over
///           the list in the order written; -1 when the list is empty.
int place(const placement_rule& rule, int rx_cpu, std::span<const int> allowed, std::size_t worker_index = 0);

/// A note when `rule` is rx+N or rx-N and N is a multiple of the number of allowed CPUs, so the
/// offset wraps all the way round onto the Rx CPU itself (rx+2 with two CPUs); else nullopt.
std::optional<std::string> wrap_note(const placement_rule& rule, std::span<const int> allowed);

/// Why `rule` can never hold on `allowed` (e.g. a listed CPU is not allowed), or nullopt.
std::optional<std::string> check_placement(const placement_rule& rule, std::span<const int> allowed);

/// Pins thread `tid` (a gettid() value; 0 = the caller) to `cpu` and confirms it with
/// sched_getaffinity.
result<void> pin_thread(pid_t tid, int cpu);

/// The rule in plan syntax: "any", "rx", "rx+2", "rx-1", "0-3,8" (parse_placement reads it back).
std::string to_string(const placement_rule& rule);
/// Parses plan syntax: "any", "rx", "rx+N", "rx-N", or a CPU list such as "0-3,8".
result<placement_rule> parse_placement(std::string_view text);
/// Parses a CPU list "0-3,8" into ascending, unique CPUs.
result<std::vector<int>> parse_cpu_list(std::string_view text);
/// Formats CPUs as a compact list ("0-3,8"); input need not be sorted.
std::string format_cpu_list(std::span<const int> cpus);

/// distinct_rx: indices into `candidates` (local Rx CPU, remote Rx CPU per connection) of a
/// maximum matching in which no two chosen connections share a local or a remote Rx CPU,
/// truncated to `wanted`, ascending. Candidates with a negative (unknown) CPU are never chosen.
/// Hopcroft-Karp: O(E sqrt(V)), no retries inside.
std::vector<std::size_t> match_distinct_rx(std::span<const std::pair<int, int>> candidates,
                                           std::size_t wanted);

/// What distinct_rx saw, for the message when the rule cannot be met.
struct rx_diagnosis {
    std::vector<int> local_cpus, remote_cpus; ///< distinct Rx CPUs seen on each side, ascending
    std::size_t candidates = 0, matched = 0, wanted = 0;
    /// One line: counts, CPUs seen, and the RSS/RPS hint.
    [[nodiscard]] std::string message() const;
};
/// Builds the diagnosis of a matching attempt.
rx_diagnosis diagnose_distinct_rx(std::span<const std::pair<int, int>> candidates, std::size_t wanted);

} // namespace kp::engine
