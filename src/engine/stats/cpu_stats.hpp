#pragma once
/// CPU accounting over a measurement window: per-CPU /proc/stat deltas (in seconds), process or
/// thread rusage deltas, and the CPUs this process may run on.
#include <chrono>
#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/core/error.hpp"
#include "engine/stats/result.hpp"

namespace kp::engine {

/// Raw /proc/stat counters of one CPU line, in clock ticks (USER_HZ).
struct cpu_ticks {
    int cpu = -1; ///< -1: the aggregate "cpu" line
    std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
};

/// One reading of /proc/stat.
struct cpu_snapshot {
    cpu_ticks total;
    std::vector<cpu_ticks> cpus; ///< one per online CPU, in file order
    std::chrono::steady_clock::time_point at{};
};

/// The CPU time spent over a window, total and per CPU.
struct cpu_window {
    cpu_time total;
    std::vector<cpu_time> cpus;
};

/// Reads /proc/stat now.
result<cpu_snapshot> read_cpu_snapshot();
/// Parses the text of /proc/stat (for tests and for read_cpu_snapshot).
result<cpu_snapshot> parse_proc_stat(std::string_view text);
/// CPU seconds spent between two snapshots. iowait is counted as idle. A CPU that is in only one
/// snapshot (hotplug) is left out; counters that went backwards count as 0.
cpu_window cpu_delta(const cpu_snapshot& start, const cpu_snapshot& end);
/// The CPU time of a window of `window_s` seconds, from snapshots taken at its edges. A snapshot
/// taken late (its thread woke after the edge) stretches the span: the deltas are scaled by
/// window / (end.at - start.at), and each CPU is then capped at the window, since /proc/stat's
/// ticks are coarse. So no CPU reports more than the window, and the total no more than
/// cores x window.
cpu_window cpu_delta_over(const cpu_snapshot& start, const cpu_snapshot& end, double window_s);

/// Which rusage to read: the whole process, or the calling thread only (RUSAGE_THREAD).
enum class rusage_scope : std::uint8_t { process, thread };

/// User and system CPU seconds from getrusage.
struct rusage_times {
    double user_s = 0, system_s = 0;
    [[nodiscard]] double total() const { return user_s + system_s; }
};

/// getrusage(RUSAGE_SELF or RUSAGE_THREAD) now.
result<rusage_times> read_rusage(rusage_scope scope);
/// end - start, clamped at 0.
rusage_times rusage_delta(const rusage_times& start, const rusage_times& end);
/// Adds per-thread deltas (workers sum theirs into the side's figure).
rusage_times& operator+=(rusage_times& a, const rusage_times& b);

/// The CPUs this process may run on (sched_getaffinity), ascending.
result<std::vector<int>> allowed_cpus();
/// Online CPUs (sysconf(_SC_NPROCESSORS_ONLN)), at least 1.
int cpu_count();
/// Clock ticks per second of /proc/stat (sysconf(_SC_CLK_TCK)).
long clock_ticks_per_second();

} // namespace kp::engine
