#include "runner/report/summary.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/traffic/traffic.hpp"
#include "engine/wire/codec.hpp"
#include "runner/plan/human.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/expect_eval.hpp"

namespace kp::runner {
namespace {

std::string cpu_text(const instance_record& r) {
    const auto* c = r.aggregate.find(metric::client_cpu_s);
    const auto* s = r.aggregate.find(metric::server_cpu_s);
    if (!c || !s) return "-";
    return cpu_cell(c->value, s->value);
}

const char* outcome_word(const instance_record& r) {
    return outcome_word(r.status);
}

/// "SEARCH rr-knee: peak 412k/s, bracket [412k/s, 431k/s], 17 probes (bracket ... within 5%)".
std::string search_line(const std::string& id, const search_record& s) {
    auto r = [](const std::optional<double>& v) { return v ? human_rate(*v) : std::string("-"); };
    std::string head = fmt::format("SEARCH {}: ", id);
    if (auto inv = inversions_text(s); !inv.empty()) head = fmt::format("{}{}\n{}", head, inv, head);
    switch (s.outcome) {
    case search_outcome::below_range:
        return head + fmt::format("no peak: {}; {} probe(s)\n", s.stopped, s.probes.size());
    case search_outcome::top_of_range:
        return head + fmt::format("peak >= {}: {}; {} probe(s)\n", r(s.peak), s.stopped, s.probes.size());
    default:
        return head + fmt::format("peak {}, bracket [{}, {}], {} probe(s) ({})\n", r(s.peak),
                                  r(s.bracket_low), r(s.bracket_high), s.probes.size(), s.stopped);
    }
}

/// "PROXY rr-via: hop p: cpu 410 ms (forwarder 52.0 ms), 12.3 us/transaction, 2 connections" per
/// hop, then the direct comparison.
std::string proxy_lines(const instance_record& r) {
    std::string out;
    for (const auto& h : r.hops)
        out += fmt::format("PROXY {}: hop {}: cpu {} (forwarder {}), {}, {} connections, {} errors\n", r.id,
                           h.host, human_seconds(h.cpu_s), human_seconds(h.process_cpu_s),
                           h.service_demand
                               ? human_demand(*h.service_demand, engine::info(r.kind).service_demand_unit)
                               : std::string("-"),
                           h.connections, h.errors);
    if (const auto& d = r.direct) {
        auto delta = [](const std::optional<double>& v, std::string (*text)(double)) {
            return v ? plus_sign(*v, text(*v)) : std::string("-");
        };
        out += fmt::format("PROXY {}: added latency p50 {}, p99 {}; added cpu {}\n", r.id,
                           delta(d->added_latency_p50_us, human_us), delta(d->added_latency_p99_us, human_us),
                           delta(d->added_cpu_s, human_seconds));
    }
    return out;
}

/// "GROUP rrul: window overlap 99.6%; cpu a 1.92 s, b 1.97 s (per host, once)", then per
/// compare_idle member "GROUP rrul: probe under load p50 ... p99 2.10 ms; alone ...; inflation ...".
std::string group_lines(const instance_record& r) {
    const group_record& g = *r.group;
    if (g.repeats.empty()) return {};
    double overlap = 1;
    std::map<std::string, std::pair<double, std::size_t>> cpu;
    std::vector<std::string> order;
    for (const auto& rep : g.repeats) {
        overlap = std::min(overlap, rep.overlap);
        for (const auto& h : rep.hosts) {
            if (!cpu.contains(h.host)) order.push_back(h.host);
            cpu[h.host].first += h.cpu.busy();
            ++cpu[h.host].second;
        }
    }
    std::vector<std::string> hosts;
    for (const auto& h : order)
        hosts.push_back(fmt::format("{} {}", h, human_seconds(cpu[h].first / double(cpu[h].second))));
    std::size_t late = 0;
    for (const auto& rep : g.repeats)
        late += rep.late_starts;
    std::string out = fmt::format("GROUP {}: {} members, window overlap {:.1f}%{}; cpu per host (once): {}\n",
                                  r.id, r.members.size(), overlap * 100,
                                  late ? fmt::format(", {} side(s) started late", late) : std::string(),
                                  fmt::join(hosts, ", "));
    for (const auto& i : g.idle) {
        const instance_record* m = nullptr;
        for (const auto& x : r.members)
            if (x.member == i.member) m = &x;
        auto p = [](const instance_aggregate& a, metric k) {
            const auto* x = a.find(k);
            return x ? human_us(x->value) : std::string("-");
        };
        auto d = [](const std::optional<double>& v) {
            return v ? plus_sign(*v, human_us(*v)) : std::string("-");
        };
        if (m)
            out += fmt::format(
                "GROUP {}: {} under load p50 {} p99 {}; alone p50 {} p99 {}; inflation p50 {} p99 {}\n", r.id,
                i.member, p(m->aggregate, metric::latency_p50), p(m->aggregate, metric::latency_p99),
                p(i.aggregate, metric::latency_p50), p(i.aggregate, metric::latency_p99),
                d(i.p50_inflation_us), d(i.p99_inflation_us));
    }
    return out;
}

/// "NOTE rr: server b: placement rx+2 wraps ...": each side's placement note, once over the repeats.
std::string placement_notes(const instance_record& r) {
    std::string out;
    for (const auto& rep : r.repeats)
        for (const auto& [side, host, s] : {std::tuple("client", &r.client_host, &rep.client),
                                            std::tuple("server", &r.server_host, &rep.server)}) {
            if (s->placement_note.empty()) continue;
            std::string line = fmt::format("NOTE {}: {} {}: {}\n", r.id, side, *host, s->placement_note);
            if (out.find(line) == std::string::npos) out += line;
        }
    return out;
}

/// One line per set of plan hosts that report one boot id: they are one kernel, so host-wide CPU
/// figures count the same CPUs for each of them.
std::string shared_kernel_notes(const run_record& run) {
    std::map<std::string, std::vector<std::string>> hosts_of;
    for (const auto& h : run.hosts)
        if (auto b = h.environment.find("boot_id"); h.environment.is_object() && b != h.environment.end() &&
                                                    b->is_string() && !b->get<std::string>().empty())
            hosts_of[b->get<std::string>()].push_back(h.name);
    std::string out;
    for (const auto& [boot_id, hosts] : hosts_of)
        if (hosts.size() > 1)
            out +=
                fmt::format("NOTE hosts {} share one kernel (boot_id {}): client_cpu_s and server_cpu_s each "
                            "count all of its CPUs, so the same CPU time shows as client and as server; "
                            "a side's own CPU is its rusage_user_s + rusage_system_s in results.json "
                            "(process_cpu_s for via hops)\n",
                            fmt::join(hosts, ", "), boot_id.substr(0, 8));
    return out;
}

std::string traffic_name(const instance_record& r) {
    return r.is_group() ? std::string("group") : std::string(engine::info(r.kind).name);
}

} // namespace

std::string cpu_cell(double client_cpu_s, double server_cpu_s) {
    return fmt::format("{:.2f}/{:.2f}", client_cpu_s, server_cpu_s);
}

const char* outcome_word(instance_status status) {
    switch (status) {
    case instance_status::ok:
        return "pass";
    case instance_status::expect_failed:
        return "FAIL";
    case instance_status::failed:
        return "ERROR";
    case instance_status::interrupted:
        return "INTERRUPTED";
    case instance_status::skipped:
        return "skipped";
    }
    return "?";
}

std::string summary_table(const run_record& run) {
    std::size_t w = 8;
    for (const auto& r : run.instances) {
        w = std::max(w, r.id.size());
        for (const auto& m : r.members)
            w = std::max(w, m.id.size() + 2);
    }
    std::string out =
        fmt::format("{:<{}}  {:<10}  {:>3}  {:<44}  {:>11}  {}\n", "instance", w, "traffic", "n",
                    "headline (mean; latency from merged histogram)", "cpu c/s [s]", "result");
    for (const auto& r : run.instances) {
        out += fmt::format("{:<{}}  {:<10}  {:>3}  {:<44}  {:>11}  {}\n", r.id, w, traffic_name(r),
                           r.repeats.size(), headline(r), cpu_text(r), outcome_word(r));
        for (const auto& m : r.members) // indented under their group; CPU is per host (GROUP line)
            out += fmt::format("  {:<{}}  {:<10}  {:>3}  {:<44}  {:>11}  {}\n", m.id, w - 2, traffic_name(m),
                               m.repeats.size(), headline(m), "-", outcome_word(m));
    }
    for (const auto& r : run.instances) {
        // rpctest's view of latency over several runs: the median of the per-repeat medians.
        if (const auto* a = r.aggregate.find(metric::latency_p50); a && a->stats.n >= 2 && !r.search)
            out += fmt::format("MEDIAN {}: p50 median of {} repeats {} (merged histogram {})\n", r.id,
                               a->stats.n, human_us(a->stats.median), human_us(a->value));
        if (const auto& s = r.search) out += search_line(r.id, *s);
        if (!r.hops.empty()) out += proxy_lines(r);
        if (r.is_group()) out += group_lines(r);
        out += placement_notes(r);
        for (const auto& m : r.members)
            out += placement_notes(m);
        for (const auto& m : r.members)
            for (const auto& c : m.checks)
                if (!c.passed) out += fmt::format("FAIL {}: {}\n", m.id, describe_check(c, m.kind));
        for (const auto& c : r.checks)
            if (!c.passed) out += fmt::format("FAIL {}: {}\n", r.id, describe_check(c, r.traffic_kind()));
        for (const auto& m : r.members)
            for (const auto& w : m.warnings)
                out += fmt::format("WARN {}: {}\n", m.id, w);
        for (const auto& w : r.warnings)
            out += fmt::format("WARN {}: {}\n", r.id, w);
        if (r.failure) out += fmt::format("ERROR {}: {}\n", r.id, describe(*r.failure));
    }
    out += shared_kernel_notes(run);
    for (const auto& h : run.hosts)
        if (h.failure)
            out += fmt::format("ERROR host {}: {}: {}\n", h.name, h.failure->step, h.failure->error);
    return out;
}

} // namespace kp::runner
