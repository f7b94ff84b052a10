#include "engine/stats/cpu_stats.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>
#include <fstream>
#include <sstream>

#include <fmt/core.h>

namespace kp::engine {

namespace {

// Parses one "cpuN user nice system idle iowait irq softirq steal ..." line. Older kernels may
// stop before steal; missing columns stay 0.
bool parse_cpu_line(std::string_view line, cpu_ticks& out) {
    if (!line.starts_with("cpu")) return false;
    std::size_t pos = 3;
    out.cpu = -1;
    if (pos < line.size() && line[pos] != ' ') {
        int n = 0;
        auto [p, ec] = std::from_chars(line.data() + pos, line.data() + line.size(), n);
        if (ec != std::errc{}) return false;
        out.cpu = n;
        pos = static_cast<std::size_t>(p - line.data());
    }
    std::uint64_t* fields[] = {&out.user,   &out.nice, &out.system,  &out.idle,
                               &out.iowait, &out.irq,  &out.softirq, &out.steal};
    for (auto* f : fields) {
        while (pos < line.size() && line[pos] == ' ')
            ++pos;
        if (pos >= line.size()) break;
        auto [p, ec] = std::from_chars(line.data() + pos, line.data() + line.size(), *f);
        if (ec != std::errc{}) return false;
        pos = static_cast<std::size_t>(p - line.data());
    }
    return true;
}

// end - start in seconds; a counter that went backwards (should not happen) counts as 0.
double ticks_s(std::uint64_t start, std::uint64_t end, double hz) {
    return end > start ? static_cast<double>(end - start) / hz : 0.0;
}

cpu_time ticks_delta(const cpu_ticks& a, const cpu_ticks& b, double hz) {
    cpu_time t;
    t.cpu = b.cpu;
    t.user = ticks_s(a.user, b.user, hz);
    t.nice = ticks_s(a.nice, b.nice, hz);
    t.system = ticks_s(a.system, b.system, hz);
    t.irq = ticks_s(a.irq, b.irq, hz);
    t.softirq = ticks_s(a.softirq, b.softirq, hz);
    t.steal = ticks_s(a.steal, b.steal, hz);
    t.idle = ticks_s(a.idle, b.idle, hz) + ticks_s(a.iowait, b.iowait, hz);
    return t;
}

double seconds(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

} // namespace

long clock_ticks_per_second() {
    const long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? hz : 100;
}

result<cpu_snapshot> parse_proc_stat(std::string_view text) {
    cpu_snapshot snap;
    bool have_total = false;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (!line.starts_with("cpu")) continue;
        cpu_ticks t;
        if (!parse_cpu_line(line, t)) return fail(fmt::format("/proc/stat: cannot parse line '{}'", line));
        if (t.cpu < 0) {
            snap.total = t;
            have_total = true;
        } else {
            snap.cpus.push_back(t);
        }
    }
    if (!have_total) return fail("/proc/stat: no 'cpu' line");
    return snap;
}

result<cpu_snapshot> read_cpu_snapshot() {
    std::ifstream in("/proc/stat");
    if (!in) return fail(errno_error("open /proc/stat"));
    std::ostringstream text;
    text << in.rdbuf();
    const auto at = std::chrono::steady_clock::now();
    auto snap = parse_proc_stat(text.str());
    if (snap) snap->at = at;
    return snap;
}

cpu_window cpu_delta(const cpu_snapshot& start, const cpu_snapshot& end) {
    const double hz = static_cast<double>(clock_ticks_per_second());
    cpu_window w;
    w.total = ticks_delta(start.total, end.total, hz);
    w.total.cpu = -1;
    for (const auto& e : end.cpus) {
        auto s = std::find_if(start.cpus.begin(), start.cpus.end(),
                              [&](const cpu_ticks& t) { return t.cpu == e.cpu; });
        if (s != start.cpus.end()) w.cpus.push_back(ticks_delta(*s, e, hz));
    }
    return w;
}

namespace {

void scale(cpu_time& t, double k) {
    for (double* v : {&t.user, &t.nice, &t.system, &t.irq, &t.softirq, &t.steal, &t.idle})
        *v *= k;
}

} // namespace

cpu_window cpu_delta_over(const cpu_snapshot& start, const cpu_snapshot& end, double window_s) {
    cpu_window w = cpu_delta(start, end);
    const double span = std::chrono::duration<double>(end.at - start.at).count();
    if (window_s <= 0) return w;
    if (span > window_s) {
        scale(w.total, window_s / span);
        for (auto& c : w.cpus)
            scale(c, window_s / span);
    }
    if (w.cpus.empty()) return w;
    w.total = cpu_time{};
    w.total.cpu = -1;
    for (auto& c : w.cpus) {
        const double all = c.busy() + c.idle;
        if (all > window_s) scale(c, window_s / all);
        for (auto [to, from] : {std::pair{&w.total.user, c.user}, {&w.total.nice, c.nice},
                                {&w.total.system, c.system}, {&w.total.irq, c.irq},
                                {&w.total.softirq, c.softirq}, {&w.total.steal, c.steal},
                                {&w.total.idle, c.idle}})
            *to += from;
    }
    return w;
}

result<rusage_times> read_rusage(rusage_scope scope) {
    rusage ru{};
    if (getrusage(scope == rusage_scope::thread ? RUSAGE_THREAD : RUSAGE_SELF, &ru) != 0)
        return fail(errno_error("getrusage"));
    return rusage_times{seconds(ru.ru_utime), seconds(ru.ru_stime)};
}

rusage_times rusage_delta(const rusage_times& start, const rusage_times& end) {
    return {std::max(0.0, end.user_s - start.user_s), std::max(0.0, end.system_s - start.system_s)};
}

rusage_times& operator+=(rusage_times& a, const rusage_times& b) {
    a.user_s += b.user_s;
    a.system_s += b.system_s;
    return a;
}

result<std::vector<int>> allowed_cpus() {
    // CPU_SETSIZE (1024) covers every machine this runs on; a larger box would make this fail
    // with EINVAL rather than silently truncate.
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return fail(errno_error("sched_getaffinity"));
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

int cpu_count() {
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? static_cast<int>(n) : 1;
}

} // namespace kp::engine
