#include "engine/worker/placement.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/core.h>

namespace kp::engine {

namespace {

bool is_allowed(std::span<const int> allowed, int cpu) {
    return std::ranges::binary_search(allowed, cpu);
}

// Position in `allowed` of rx_cpu, or of the nearest allowed CPU (the lower one on a tie).
std::size_t nearest_position(std::span<const int> allowed, int rx_cpu) {
    const auto it = std::ranges::lower_bound(allowed, rx_cpu);
    if (it == allowed.end()) return allowed.size() - 1;
    const auto pos = static_cast<std::size_t>(it - allowed.begin());
    if (*it == rx_cpu || pos == 0) return pos;
    return rx_cpu - allowed[pos - 1] <= *it - rx_cpu ? pos - 1 : pos;
}

std::vector<int> sorted_unique(std::vector<int> v) {
    std::ranges::sort(v);
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

std::size_t index_in(const std::vector<int>& sorted, int v) {
    return static_cast<std::size_t>(std::ranges::lower_bound(sorted, v) - sorted.begin());
}

// Hopcroft-Karp on local CPUs (left) x remote CPUs (right); each edge remembers its candidate.
class matcher {
  public:
    struct edge {
        std::size_t right, candidate;
    };
    explicit matcher(std::size_t left, std::size_t right)
        : adj_(left), match_left_(left, none), match_right_(right, none), edge_of_left_(left, none),
          dist_(left) {}

    void add(std::size_t l, std::size_t r, std::size_t candidate) { adj_[l].push_back({r, candidate}); }

    /// Runs to a maximum matching; returns the candidate index of each matched edge.
    std::vector<std::size_t> run() {
        while (bfs())
            for (std::size_t l = 0; l < adj_.size(); ++l)
                if (match_left_[l] == none) dfs(l);
        std::vector<std::size_t> out;
        for (std::size_t l = 0; l < adj_.size(); ++l)
            if (match_left_[l] != none) out.push_back(edge_of_left_[l]);
        return out;
    }

  private:
    static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

    bool bfs() {
        std::vector<std::size_t> queue;
        for (std::size_t l = 0; l < adj_.size(); ++l) {
            dist_[l] = match_left_[l] == none ? 0 : none;
            if (dist_[l] == 0) queue.push_back(l);
        }
        bool found = false;
        for (std::size_t q = 0; q < queue.size(); ++q) {
            const std::size_t l = queue[q];
            for (const auto& e : adj_[l]) {
                const std::size_t next = match_right_[e.right];
                if (next == none) {
                    found = true;
                } else if (dist_[next] == none) {
                    dist_[next] = dist_[l] + 1;
                    queue.push_back(next);
                }
            }
        }
        return found;
    }

    // Recursion depth is bounded by the number of distinct local CPUs.
    bool dfs(std::size_t l) {
        for (const auto& e : adj_[l]) {
            const std::size_t next = match_right_[e.right];
            if (next == none || (dist_[next] == dist_[l] + 1 && dfs(next))) {
                match_left_[l] = e.right;
                match_right_[e.right] = l;
                edge_of_left_[l] = e.candidate;
                return true;
            }
        }
        dist_[l] = none;
        return false;
    }

    std::vector<std::vector<edge>> adj_;
    std::vector<std::size_t> match_left_, match_right_, edge_of_left_, dist_;
};

} // namespace

int place(const placement_rule& rule, int rx_cpu, std::span<const int> allowed, std::size_t worker_index) {
    switch (rule.how) {
    case placement_rule::kind::any:
        return -1;
    case placement_rule::kind::rx: {
        if (rx_cpu < 0 || allowed.empty()) return -1;
        const auto n = static_cast<long long>(allowed.size());
        const auto pos = static_cast<long long>(nearest_position(allowed, rx_cpu));
        const long long at = ((pos + rule.offset) % n + n) % n;
        return allowed[static_cast<std::size_t>(at)];
    }
    case placement_rule::kind::cpus:
        if (rule.cpus.empty()) return -1;
        return rule.cpus[worker_index % rule.cpus.size()];
    }
    return -1;
}

std::optional<std::string> wrap_note(const placement_rule& rule, std::span<const int> allowed) {
    if (rule.how != placement_rule::kind::rx || rule.offset == 0 || allowed.empty()) return std::nullopt;
    const auto n = static_cast<long long>(allowed.size());
    if (rule.offset % n != 0) return std::nullopt;
    return fmt::format("placement {} wraps onto the Rx CPU itself: {} CPU{} allowed ({})", to_string(rule), n,
                       n == 1 ? " is" : "s are", format_cpu_list(allowed));
}

std::optional<std::string> check_placement(const placement_rule& rule, std::span<const int> allowed) {
    switch (rule.how) {
    case placement_rule::kind::any:
        return std::nullopt;
    case placement_rule::kind::rx:
        if (allowed.empty()) return "placement " + to_string(rule) + ": no CPUs are allowed";
        return std::nullopt;
    case placement_rule::kind::cpus: {
        if (rule.cpus.empty()) return std::string("placement: the CPU list is empty");
        std::vector<int> missing;
        for (int c : rule.cpus)
            if (!is_allowed(allowed, c)) missing.push_back(c);
        if (missing.empty()) return std::nullopt;
        return fmt::format("placement {}: CPU{} {} not allowed here (allowed: {})", to_string(rule),
                           missing.size() == 1 ? "" : "s", format_cpu_list(missing),
                           allowed.empty() ? std::string("none") : format_cpu_list(allowed));
    }
    }
    return std::nullopt;
}

result<void> pin_thread(pid_t tid, int cpu) {
    const std::string what = fmt::format("pin thread {} to CPU {}", tid, cpu);
    if (cpu < 0 || cpu >= CPU_SETSIZE) return fail(what + ": no such CPU");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(tid, sizeof set, &set) != 0) return fail(errno_error(what));
    cpu_set_t got;
    CPU_ZERO(&got);
    if (sched_getaffinity(tid, sizeof got, &got) != 0) return fail(errno_error(what + ": confirming"));
    if (!CPU_EQUAL(&set, &got))
        return fail(fmt::format("{}: the affinity reads back as {} CPUs", what, CPU_COUNT(&got)));
    return {};
}

std::string to_string(const placement_rule& rule) {
    switch (rule.how) {
    case placement_rule::kind::any:
        return "any";
    case placement_rule::kind::rx:
        if (rule.offset == 0) return "rx";
        return fmt::format("rx{}{}", rule.offset > 0 ? "+" : "", rule.offset);
    case placement_rule::kind::cpus:
        return format_cpu_list(rule.cpus);
    }
    return "any";
}

result<placement_rule> parse_placement(std::string_view text) {
    placement_rule rule;
    if (text == "any") return rule;
    if (text.starts_with("rx")) {
        rule.how = placement_rule::kind::rx;
        std::string_view rest = text.substr(2);
        if (rest.empty()) return rule;
        const bool minus = rest.front() == '-';
        if (rest.front() != '+' && !minus) return fail(fmt::format("bad placement '{}'", text));
        rest.remove_prefix(1);
        int n = 0;
        auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
        if (rest.empty() || ec != std::errc{} || p != rest.data() + rest.size() || n > 4096)
            return fail(fmt::format("bad placement '{}': expected rx+N or rx-N", text));
        rule.offset = minus ? -n : n;
        return rule;
    }
    auto cpus = parse_cpu_list(text);
    if (!cpus)
        return fail(cpus.error().context(
            fmt::format("bad placement '{}' (expected any, rx, rx+N, rx-N or a CPU list)", text)));
    rule.how = placement_rule::kind::cpus;
    rule.cpus = std::move(*cpus);
    return rule;
}

result<std::vector<int>> parse_cpu_list(std::string_view text) {
    std::vector<int> cpus;
    if (text.empty()) return fail("empty CPU list");
    while (true) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        const auto dash = item.find('-');
        int lo = 0, hi = 0;
        auto num = [](std::string_view s, int& out) {
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
            return !s.empty() && ec == std::errc{} && p == s.data() + s.size() && out >= 0 &&
                   out < CPU_SETSIZE;
        };
        const bool ok = dash == std::string_view::npos
                            ? num(item, lo) && num(item, hi)
                            : num(item.substr(0, dash), lo) && num(item.substr(dash + 1), hi);
        if (!ok || lo > hi) return fail(fmt::format("bad CPU list item '{}'", item));
        for (int c = lo; c <= hi; ++c)
            cpus.push_back(c);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return sorted_unique(std::move(cpus));
}

std::string format_cpu_list(std::span<const int> cpus) {
    const std::vector<int> v = sorted_unique({cpus.begin(), cpus.end()});
    std::string out;
    for (std::size_t i = 0; i < v.size();) {
        std::size_t j = i;
        while (j + 1 < v.size() && v[j + 1] == v[j] + 1)
            ++j;
        if (!out.empty()) out += ',';
        out += j == i ? fmt::format("{}", v[i]) : fmt::format("{}-{}", v[i], v[j]);
        i = j + 1;
    }
    return out;
}

std::vector<std::size_t> match_distinct_rx(std::span<const std::pair<int, int>> candidates,
                                           std::size_t wanted) {
    std::vector<int> locals, remotes;
    for (const auto& [l, r] : candidates)
        if (l >= 0 && r >= 0) {
            locals.push_back(l);
            remotes.push_back(r);
        }
    locals = sorted_unique(std::move(locals));
    remotes = sorted_unique(std::move(remotes));
    matcher m(locals.size(), remotes.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        const auto [l, r] = candidates[i];
        if (l >= 0 && r >= 0) m.add(index_in(locals, l), index_in(remotes, r), i);
    }
    std::vector<std::size_t> chosen = m.run();
    std::ranges::sort(chosen);
    if (chosen.size() > wanted) chosen.resize(wanted);
    return chosen;
}

rx_diagnosis diagnose_distinct_rx(std::span<const std::pair<int, int>> candidates, std::size_t wanted) {
    rx_diagnosis d;
    for (const auto& [l, r] : candidates) {
        if (l >= 0) d.local_cpus.push_back(l);
        if (r >= 0) d.remote_cpus.push_back(r);
    }
    d.local_cpus = sorted_unique(std::move(d.local_cpus));
    d.remote_cpus = sorted_unique(std::move(d.remote_cpus));
    d.candidates = candidates.size();
    d.wanted = wanted;
    d.matched = match_distinct_rx(candidates, wanted).size();
    return d;
}

std::string rx_diagnosis::message() const {
    auto list = [](const std::vector<int>& v) {
        return v.empty() ? std::string("none") : format_cpu_list(v);
    };
    return fmt::format("distinct_rx: {} of {} flows on distinct Rx CPUs after {} connections; "
                       "distinct Rx CPUs seen: {} local ({}), {} remote ({}); "
                       "hint: the Rx CPU is chosen by RSS (NIC queues: ethtool -l / -x) or RPS "
                       "(/sys/class/net/DEV/queues/rx-*/rps_cpus); on loopback it is the sender's CPU",
                       matched, wanted, candidates, local_cpus.size(), list(local_cpus), remote_cpus.size(),
                       list(remote_cpus));
}

} // namespace kp::engine
