#include "runner/orchestrate/group.hpp"

#include "runner/orchestrate/live.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "remote/clock.hpp"
#include "runner/orchestrate/failure.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/orchestrate/repeat.hpp"
#include "runner/results/expect_eval.hpp"
#include "runner/results/metrics.hpp"

namespace kp::runner {
namespace {

using namespace std::chrono_literals;
using remote::agent_client;

constexpr agent_client::timeout setup_timeout = 15s;
constexpr agent_client::timeout start_timeout = 10s;
constexpr auto poll = 100ms;

std::int64_t realtime_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

template <class F> auto async(F f) {
    return std::async(std::launch::async, std::move(f));
}

/// One side of one member in one repeat.
struct side_run {
    const instance* member = nullptr;
    side which = side::server;
    agent_client* agent = nullptr;
    std::string host, name;
    bool open = false;
    std::optional<result<engine::side_result>> outcome;
};

/// The metrics a member keeps in a group: its CPU is its host's, shared with the other members
/// there, so it is reported once per host instead.
void drop_cpu_metrics(metric_values& v) {
    for (metric m : {metric::client_cpu_s, metric::server_cpu_s, metric::client_service_demand,
                     metric::server_service_demand})
        v[static_cast<std::size_t>(m)].reset();
}

/// One repeat of the whole group. On success `members[i]` holds member i's repeat.
std::expected<repeat_record, failure_reason>
run_group_repeat(const plan& p, const instance& g, agent_pool& pool, std::size_t index, progress& prog,
                 std::vector<repeat_record>& members, group_repeat& grec) {
    std::vector<side_run> sides; // server, client of member 0, then of member 1, ...
    sides.reserve(2 * g.members.size());
    for (const auto& m : g.members) {
        std::string base = fmt::format("{}#{}", m.id, index);
        sides.push_back({&m, side::server, pool.find(m.server), m.server, base + "/server"});
        sides.push_back({&m, side::client, pool.find(m.client), m.client, base + "/client"});
    }
    const std::string token = make_token();
    // A lost agent (dead, or not answering) would only make each request wait out its timeout.
    auto reachable = [](const side_run& s) { return s.agent->alive() && !s.agent->unresponsive(); };
    auto cleanup = [&] {
        for (auto& s : sides)
            if (s.open && reachable(s)) (void)s.agent->stop(s.name, 5s);
        for (auto& s : sides)
            if (s.open) {
                if (reachable(s)) (void)s.agent->release(s.name);
                s.open = false;
            }
    };
    // The member, then the request once: "rr establish rr#0/client: ..." (failure.hpp).
    auto failure_of = [&](const side_run& s, const std::string& step, const error& e) {
        failure_reason f = side_failure(s.host, step, s.name, e);
        f.step = fmt::format("{} {}", s.member->member, f.step);
        f.host_lost = !reachable(s);
        return f;
    };
    auto failed = [&](const side_run& s, const std::string& step, const error& e) {
        cleanup();
        return std::unexpected(failure_of(s, step, e));
    };
    for (auto& s : sides)
        if (!s.agent) {
            cleanup();
            auto f = host_unavailable(pool, s.host);
            f.step = s.member->member + " " + f.step;
            return std::unexpected(f);
        }

    // Listen and connect, member by member: each client needs its server's port.
    for (std::size_t i = 0; i < sides.size(); i += 2) {
        side_run &server = sides[i], &client = sides[i + 1];
        const instance& m = *server.member;
        engine::job_spec sjob = m.for_side(side::server), cjob = m.for_side(side::client);
        sjob.token = cjob.token = token;
        sjob.id = cjob.id = m.id;
        const std::string address = address_of(p, pool, m.server);
        auto l = server.agent->listen(server.name, sjob, {address, 0}, setup_timeout);
        if (!l) return failed(server, "listen", l.error());
        server.open = true;
        cjob.tls.peer_fingerprint = l->tls_fingerprint;
        auto c = client.agent->connect(client.name, cjob, {address, l->port}, setup_timeout);
        if (!c) return failed(client, "connect", c.error());
        client.open = true;
        if (interrupt_requested) {
            cleanup();
            return std::unexpected(interrupted_at("connect", interrupt_signal));
        }
    }

    // Every side completes its data connections at once (accepts and connects meet).
    {
        std::vector<std::future<result<void>>> es;
        for (auto& s : sides)
            es.push_back(async([&s] { return s.agent->establish(s.name, 30s); }));
        std::vector<result<void>> er;
        for (auto& f : es)
            er.push_back(f.get());
        // Both ends of a member failed: both errors, the cause first (failure.hpp).
        for (std::size_t i = 0; i + 1 < sides.size(); i += 2)
            if (!er[i] && !er[i + 1]) {
                cleanup();
                return std::unexpected(
                    both_failed(failure_of(sides[i + 1], "establish", er[i + 1].error()), er[i + 1].error(),
                                failure_of(sides[i], "establish", er[i].error()), er[i].error()));
            }
        for (std::size_t i = 0; i < sides.size(); ++i)
            if (sides[i].which == side::client && !er[i]) return failed(sides[i], "establish", er[i].error());
        for (std::size_t i = 0; i < sides.size(); ++i)
            if (!er[i]) return failed(sides[i], "establish", er[i].error());
    }
    if (interrupt_requested) {
        cleanup();
        return std::unexpected(interrupted_at("establish", interrupt_signal));
    }

    // Each host's clock against the runner's, NTP style, once per host.
    std::map<std::string, remote::clock_estimate> clocks;
    {
        std::map<std::string, std::future<result<remote::clock_estimate>>> fs;
        for (auto& s : sides)
            if (!fs.contains(s.host)) {
                agent_client* a = s.agent;
                fs.emplace(s.host, async([a] { return remote::estimate_clock(*a, 8, 5s); }));
            }
        for (auto& [host, f] : fs) {
            auto e = f.get();
            if (!e) {
                auto it = std::find_if(sides.begin(), sides.end(),
                                       [&](const side_run& s) { return s.host == host; });
                return failed(*it, "clock", e.error());
            }
            clocks[host] = *e;
        }
    }

    // One instant for every side: far enough ahead that every start request is answered before
    // it (a start creates and pins the workers; they are released at the instant). A side whose
    // answer came after the instant started late, and is counted as such.
    const auto lead = std::chrono::milliseconds(300) + std::chrono::milliseconds(5) * sides.size();
    const std::int64_t at =
        realtime_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(lead).count();
    {
        std::vector<std::future<std::pair<result<void>, std::int64_t>>> ss;
        for (auto& s : sides) {
            std::int64_t host_at = at + clocks[s.host].offset_ns;
            ss.push_back(async([&s, host_at] {
                auto r = s.agent->start(s.name, start_timeout, host_at);
                return std::pair{std::move(r), realtime_ns()};
            }));
        }
        std::vector<std::pair<result<void>, std::int64_t>> sr;
        for (auto& f : ss)
            sr.push_back(f.get());
        for (std::size_t i = 0; i < sides.size(); ++i)
            if (!sr[i].first) return failed(sides[i], "start", sr[i].first.error());
        grec.late_starts = static_cast<std::size_t>(
            std::count_if(sr.begin(), sr.end(), [at](const auto& x) { return x.second > at; }));
    }

    const auto wait_for =
        std::chrono::duration_cast<agent_client::timeout>(g.job.warmup + g.job.duration + lead) +
        wait_margin(g.job);
    std::vector<std::future<result<engine::side_result>>> ws;
    for (auto& s : sides)
        ws.push_back(async([&s, wait_for] { return s.agent->wait(s.name, wait_for); }));
    bool stopped = false, interrupted_now = false;
    // -i: each member's receiving side (streams) or client (rr, crr), as for an instance.
    live_printer live(prog.interval() ? &prog : nullptr);
    for (auto& sd : sides) {
        const instance& m = *sd.member;
        const bool stream = engine::info(m.job.kind).stream();
        const bool receives = stream ? (sd.which == side::server ? m.job.dir != engine::direction::reverse
                                                                 : m.job.dir != engine::direction::forward)
                                     : sd.which == side::client;
        if (receives)
            live.watch(sd.agent, sd.name, m.id + (sd.which == side::server ? " server" : " client"), stream);
    }
    for (;;) {
        std::size_t done = 0, pending = sides.size();
        for (std::size_t i = 0; i < sides.size(); ++i) {
            if (!sides[i].outcome && ws[i].wait_for(0s) == std::future_status::ready)
                sides[i].outcome = ws[i].get();
            if (sides[i].outcome)
                ++done;
            else if (pending == sides.size())
                pending = i;
        }
        if (done == sides.size()) break;
        prog.tick();
        live.poll();
        // An interrupt, or one side failed: stop every side now rather than let them run out.
        bool one_failed = std::any_of(sides.begin(), sides.end(),
                                      [](const side_run& s) { return s.outcome && !*s.outcome; });
        if (!stopped && (interrupt_requested || one_failed)) {
            interrupted_now = interrupt_requested;
            for (auto& s : sides)
                (void)s.agent->stop(s.name, 5s);
            stopped = true;
        }
        ws[pending].wait_for(poll);
    }
    for (std::size_t i = 0; i < sides.size(); ++i)
        if (sides[i].which == side::client && !*sides[i].outcome)
            return failed(sides[i], "wait", sides[i].outcome->error());
    for (std::size_t i = 0; i < sides.size(); ++i)
        if (!*sides[i].outcome) return failed(sides[i], "wait", sides[i].outcome->error());
    if (interrupted_now) {
        cleanup();
        return std::unexpected(interrupted_at("wait", interrupt_signal));
    }
    for (auto& sd : sides)
        live.rest(sd.name, (*sd.outcome)->samples);
    cleanup();

    // Each member's repeat, on the runner's clock.
    members.clear();
    std::int64_t shared_start = INT64_MIN, shared_end = INT64_MAX;
    for (std::size_t i = 0; i < sides.size(); i += 2) {
        const instance& m = *sides[i].member;
        repeat_record r;
        r.index = index;
        r.server = std::move(**sides[i].outcome);
        r.client = std::move(**sides[i + 1].outcome);
        r.metrics = derive_metrics(m.job.kind, r.client, r.server);
        drop_cpu_metrics(r.metrics);
        const auto& cs = clocks[sides[i].host];
        const auto& cc = clocks[sides[i + 1].host];
        r.clock_offset_ns[sides[i].host] = cs.offset_ns;
        r.clock_offset_ns[sides[i + 1].host] = cc.offset_ns;
        r.clock_uncertainty_ns[sides[i].host] = cs.uncertainty_ns;
        r.clock_uncertainty_ns[sides[i + 1].host] = cc.uncertainty_ns;
        r.shared_start_ns =
            std::max(r.server.window_start_ns - cs.offset_ns, r.client.window_start_ns - cc.offset_ns);
        r.shared_end_ns =
            std::min(r.server.window_end_ns - cs.offset_ns, r.client.window_end_ns - cc.offset_ns);
        shared_start = std::max(shared_start, r.shared_start_ns);
        shared_end = std::min(shared_end, r.shared_end_ns);
        members.push_back(std::move(r));
    }

    repeat_record rec;
    rec.index = index;
    std::vector<const repeat_record*> mp;
    for (const auto& r : members)
        mp.push_back(&r);
    rec.metrics = group_metrics(g, mp, rec.client.latency);
    for (const auto& [host, c] : clocks) {
        rec.clock_offset_ns[host] = c.offset_ns;
        rec.clock_uncertainty_ns[host] = c.uncertainty_ns;
    }
    rec.shared_start_ns = shared_start;
    rec.shared_end_ns = shared_end;
    const double planned = std::chrono::duration<double>(g.job.duration).count() * 1e9;
    grec.index = index;
    grec.overlap = planned > 0 && shared_end > shared_start ? double(shared_end - shared_start) / planned : 0;
    // Each host's CPU once: every session on a host measures the same host-wide /proc/stat over
    // (nearly) the same window; the first one on the host stands for it.
    grec.hosts.clear();
    for (const auto& h : p.hosts) {
        group_host_cpu hc;
        hc.host = h.name;
        bool found = false;
        for (std::size_t i = 0; i < sides.size(); ++i) {
            if (sides[i].host != h.name) continue;
            const repeat_record& r = members[i / 2];
            const engine::side_result& sr = sides[i].which == side::server ? r.server : r.client;
            if (!found) {
                hc.cpu = sr.cpu_total;
                hc.cpus = sr.cpus.size();
                found = true;
            }
            hc.members.push_back(fmt::format("{} ({})", sides[i].member->member,
                                             sides[i].which == side::server ? "server" : "client"));
        }
        if (found) grec.hosts.push_back(std::move(hc));
    }
    return rec;
}

/// A member's check (`probe.latency_p99`) or the group's, on the matching aggregate.
check_result group_check(const expectation& e, const instance_record& rec) {
    const instance_aggregate* a = &rec.aggregate;
    if (!e.member.empty())
        for (const auto& m : rec.members)
            if (m.member == e.member) a = &m.aggregate;
    auto c = evaluate_check({e.metric, e.op, e.bound, e.text}, *a);
    if (!e.member.empty()) c.metric = e.member + "." + c.metric;
    return c;
}

} // namespace

double jain_index(const std::vector<double>& xs) {
    double sum = 0, squares = 0;
    for (double x : xs) {
        sum += x;
        squares += x * x;
    }
    return squares > 0 ? sum * sum / (static_cast<double>(xs.size()) * squares) : 1.0;
}

metric_values group_metrics(const instance& g, const std::vector<const repeat_record*>& members,
                            engine::histogram& merged) {
    metric_values v{};
    auto value = [](const repeat_record& r, metric m) { return r.metrics[static_cast<std::size_t>(m)]; };
    auto sum = [&](metric m) -> std::optional<double> {
        std::optional<double> total;
        for (const auto* r : members)
            if (auto x = value(*r, m)) total = total.value_or(0) + *x;
        return total;
    };
    for (metric m :
         {metric::throughput_bps, metric::transactions_per_s, metric::connections_per_s, metric::retransmits})
        if (group_measures(g, m)) v[static_cast<std::size_t>(m)] = sum(m);
    if (group_measures(g, metric::loss_ratio)) {
        // Over every UDP member: its loss ratio weighted by what it carried.
        double lost = 0, total = 0;
        for (std::size_t i = 0; i < members.size(); ++i) {
            auto ratio = value(*members[i], metric::loss_ratio);
            if (!ratio) continue;
            const auto& r = *members[i];
            double carried =
                static_cast<double>(r.client.totals.transactions + r.client.totals.datagrams_received +
                                    r.server.totals.datagrams_received);
            double n = *ratio < 1 ? carried / (1 - *ratio) : carried;
            lost += *ratio * n;
            total += n;
        }
        if (total > 0) v[static_cast<std::size_t>(metric::loss_ratio)] = lost / total;
    }
    // Fairness over the stream members' goodput; without streams, over every member's headline.
    std::vector<double> shares;
    for (std::size_t i = 0; i < members.size(); ++i)
        if (engine::info(g.members[i].job.kind).stream())
            shares.push_back(value(*members[i], metric::throughput_bps).value_or(0));
    if (shares.empty())
        for (std::size_t i = 0; i < members.size(); ++i)
            shares.push_back(value(*members[i], headline_metric(g.members[i].job.kind)).value_or(0));
    v[static_cast<std::size_t>(metric::fairness)] = jain_index(shares);
    merged = engine::histogram{};
    if (group_measures(g, metric::latency_p99)) {
        for (std::size_t i = 0; i < members.size(); ++i)
            if (!engine::info(g.members[i].job.kind).stream()) merged.merge(members[i]->client.latency);
        for (metric m :
             {metric::latency_p50, metric::latency_p90, metric::latency_p99, metric::latency_p999,
              metric::latency_p9999, metric::latency_min, metric::latency_max, metric::latency_mean})
            v[static_cast<std::size_t>(m)] = latency_from(merged, m);
    }
    return v;
}

instance_record run_group(const plan& p, const instance& g, agent_pool& pool, progress& prog) {
    auto began = std::chrono::steady_clock::now();
    instance_record rec = record_of(g);
    rec.group.emplace();
    until_rule rule;
    if (g.until) {
        rule = *g.until;
        rule.min_repeat = std::max<std::size_t>({rule.min_repeat, g.repeat, 2});
    }
    std::size_t shown = g.until ? std::max(rule.max_repeat, rule.min_repeat) : g.repeat;
    std::vector<double> headline_values;
    std::vector<std::size_t> latency_members;
    if (g.compare_idle)
        for (std::size_t i = 0; i < g.members.size(); ++i)
            if (!engine::info(g.members[i].job.kind).stream()) {
                latency_members.push_back(i);
                rec.group->idle.push_back({g.members[i].member, {}, {}, {}, {}});
            }
    for (std::size_t r = 0;; ++r) {
        bool more = g.until ? needs_another_repeat(rule, headline_values) : r < g.repeat;
        if (!more) break;
        if (interrupt_requested) {
            rec.failure = interrupted_at("repeat", interrupt_signal);
            break;
        }
        prog.repeat(r, shown);
        std::vector<repeat_record> member_repeats;
        group_repeat grec;
        auto rep = run_group_repeat(p, g, pool, r, prog, member_repeats, grec);
        if (!rep) {
            rec.failure = rep.error();
            break;
        }
        for (std::size_t i = 0; i < latency_members.size(); ++i) { // alone, right after the group
            const instance& m = g.members[latency_members[i]];
            repeat_context ctx{
                &m, pool.find(m.client),     pool.find(m.server), address_of(p, pool, m.server),
                r,  [&prog] { prog.tick(); }};
            auto alone = run_repeat(ctx);
            if (!alone) {
                rec.failure = alone.error();
                rec.failure->step = fmt::format("{} idle {}", m.member, rec.failure->step);
                break;
            }
            rec.group->idle[i].repeats.push_back(std::move(*alone));
        }
        if (rec.failure) break;
        for (std::size_t i = 0; i < g.members.size(); ++i)
            rec.members[i].repeats.push_back(std::move(member_repeats[i]));
        headline_values.push_back(rep->metrics[static_cast<std::size_t>(metric::throughput_bps)].value_or(0));
        rec.repeats.push_back(std::move(*rep));
        rec.group->repeats.push_back(std::move(grec));
    }
    const bool failed = rec.failure.has_value();
    if (failed)
        rec.status = rec.failure->interrupted ? instance_status::interrupted : instance_status::failed;
    for (std::size_t i = 0; i < g.members.size(); ++i) {
        instance_record& m = rec.members[i];
        m.aggregate = aggregate_of(m.repeats);
        if (failed) {
            m.status = rec.status;
            m.failure = rec.failure;
            continue;
        }
        for (const auto& e : g.members[i].expect) {
            m.checks.push_back(evaluate_check({e.metric, e.op, e.bound, e.text}, m.aggregate));
            if (!m.checks.back().passed) m.status = instance_status::expect_failed;
        }
        for (auto& w : window_overruns(g.members[i], m))
            m.warnings.push_back(std::move(w));
        for (auto& w : rejected_hello_warnings(m))
            m.warnings.push_back(std::move(w));
        for (auto& w : paced_warnings(g.members[i], m))
            m.warnings.push_back(std::move(w));
    }
    rec.aggregate = aggregate_of(rec.repeats);
    for (auto& idle : rec.group->idle) {
        idle.aggregate = aggregate_of(idle.repeats);
        const instance_record* loaded = nullptr;
        for (const auto& m : rec.members)
            if (m.member == idle.member) loaded = &m;
        auto inflation = [&](metric m) -> std::optional<double> {
            const auto* a = loaded ? loaded->aggregate.find(m) : nullptr;
            const auto* b = idle.aggregate.find(m);
            if (!a || !b) return std::nullopt;
            return a->value - b->value;
        };
        idle.p50_inflation_us = inflation(metric::latency_p50);
        idle.p99_inflation_us = inflation(metric::latency_p99);
    }
    if (!failed && !rec.repeats.empty()) {
        for (const auto& e : g.expect) {
            rec.checks.push_back(group_check(e, rec));
            if (!rec.checks.back().passed) rec.status = instance_status::expect_failed;
        }
        for (const auto& m : rec.members)
            if (m.status == instance_status::expect_failed) rec.status = instance_status::expect_failed;
    }
    rec.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    return rec;
}

} // namespace kp::runner
