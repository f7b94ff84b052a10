#include "runner/orchestrate/orchestrate.hpp"

#include <algorithm>
#include <chrono>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "engine/worker/placement.hpp"
#include "runner/orchestrate/group.hpp"
#include "runner/orchestrate/repeat.hpp"
#include "runner/orchestrate/search.hpp"
#include "runner/orchestrate/setup.hpp"
#include "runner/plan/human.hpp"
#include "runner/results/expect_eval.hpp"
#include "runner/results/stats.hpp"

namespace kp::runner {

/// The data-plane address of `host`: as the pool resolved it (`address: auto`), else the plan's.
std::string address_of(const plan& p, const std::string& host) {
    const auto* h = p.find_host(host);
    return h ? h->address : std::string("127.0.0.1");
}

std::string address_of(const plan& p, const agent_pool& pool, const std::string& host) {
    if (const auto* r = pool.record(host); r && !r->address.empty()) return r->address;
    return address_of(p, host);
}

failure_reason host_unavailable(const agent_pool& pool, const std::string& host) {
    if (const auto* r = pool.record(host); r && r->failure)
        return {host, r->failure->step, r->failure->error};
    return {host, "start agent", "no agent for this host"};
}

namespace {

void finish_aggregate(const instance& inst, instance_record& rec) {
    rec.aggregate = aggregate_of(rec.repeats);
    if (rec.failure || rec.repeats.empty()) return;
    for (auto& w : window_overruns(inst, rec))
        rec.warnings.push_back(std::move(w));
    for (auto& w : rejected_hello_warnings(rec))
        rec.warnings.push_back(std::move(w));
    for (auto& w : steal_warnings(rec))
        rec.warnings.push_back(std::move(w));
    for (auto& w : paced_warnings(inst, rec))
        rec.warnings.push_back(std::move(w));
    bool all_passed = true;
    for (const auto& e : inst.expect) {
        rec.checks.push_back(evaluate_check({e.metric, e.op, e.bound, e.text}, rec.aggregate));
        all_passed = all_passed && rec.checks.back().passed;
    }
    if (!all_passed) rec.status = instance_status::expect_failed;
}

} // namespace

std::vector<std::string> window_overruns(const instance& inst, const instance_record& rec) {
    std::vector<std::string> out;
    const double planned = std::chrono::duration<double>(inst.job.duration).count();
    for (const auto& rep : rec.repeats)
        for (const auto& [side, host, s] : {std::tuple("client", &rec.client_host, &rep.client),
                                            std::tuple("server", &rec.server_host, &rep.server)}) {
            if (s->window_end_ns <= s->window_start_ns) continue;
            const double lasted = double(s->window_end_ns - s->window_start_ns) / 1e9;
            if (lasted > 1.05 * planned)
                out.push_back(fmt::format("repeat {}: the {}'s window on {} lasted {} against {} planned "
                                          "(was its agent stopped or starved?): its rates count over the "
                                          "planned length, so they are overstated",
                                          rep.index, side, *host, human_seconds(lasted), human_seconds(planned)));
        }
    return out;
}

namespace {
double side_steal(const engine::side_result& s) {
    if (s.seconds <= 0 || s.cpus.empty()) return 0;
    return s.cpu_total.steal / (s.seconds * double(s.cpus.size()));
}
} // namespace

double steal_share(const repeat_record& rep) {
    return std::max(side_steal(rep.client), side_steal(rep.server));
}

std::vector<std::string> steal_warnings(const instance_record& rec) {
    std::vector<std::string> out;
    for (const auto& rep : rec.repeats) {
        const bool client_worse = side_steal(rep.client) >= side_steal(rep.server);
        const double share = steal_share(rep);
        if (share <= steal_warn_share) continue;
        out.push_back(fmt::format("repeat {}: the hypervisor took {} of {}'s CPU time in the window "
                                  "(/proc/stat steal): latency tails and rates here are partly the VM's",
                                  rep.index, human_percent(share),
                                  client_worse ? rec.client_host : rec.server_host));
    }
    return out;
}

std::vector<std::string> rejected_hello_warnings(const instance_record& rec) {
    std::vector<std::string> out;
    for (const auto& rep : rec.repeats) {
        const std::uint64_t n = rep.server.errors.rejected_hello;
        if (n == 0) continue;
        out.push_back(
            fmt::format("repeat {}: the server on {} refused {} connection{} without the run's token "
                        "(errors.rejected_hello): something else reached its data port while it ran, "
                        "and may have loaded it",
                        rep.index, rec.server_host, n, n == 1 ? "" : "s"));
    }
    return out;
}

double lateness_limit_us(const instance& inst) {
    std::optional<double> tightest;
    auto consider = [&](const std::vector<expectation>& checks) {
        for (const auto& e : checks) {
            auto m = metric_from_name(e.metric);
            if (m && info(*m).is_latency && (e.op == comparison::lt || e.op == comparison::le))
                tightest = std::min(tightest.value_or(e.bound), e.bound);
        }
    };
    consider(inst.expect);
    if (inst.search) consider(inst.search->slo);
    return std::max(20.0, tightest.value_or(0) / 10);
}

std::optional<std::string> lateness_warning(const instance& inst, std::optional<double> p99_us) {
    const double limit = lateness_limit_us(inst);
    if (!p99_us || *p99_us <= limit) return std::nullopt;
    return fmt::format("the client's paced sends left late (send_lateness_p99 {} > {}): its latencies "
                       "include that delay; it could not keep the schedule (a busy client CPU or a "
                       "late timer)",
                       human_us(*p99_us), human_us(limit));
}

std::optional<std::string> held_warning(const instance& inst, const instance_record& rec) {
    std::uint64_t held = 0, sends = 0;
    for (const auto& rep : rec.repeats) {
        held += rep.client.sends_held;
        sends += rep.client.send_lateness.count();
    }
    if (sends == 0 || double(held) <= held_warn_share * double(sends)) return std::nullopt;
    const auto places = std::uint64_t{inst.job.flows} * std::max(1u, inst.job.in_flight);
    return fmt::format("{} of the paced sends waited for an earlier reply ({} in flight at most: flows x "
                       "in_flight, at {}): their latencies include the wait; more flows or in_flight "
                       "offer the rate without it",
                       human_percent(double(held) / double(sends)), places, human_rate(inst.job.rate));
}

std::vector<std::string> paced_warnings(const instance& inst, const instance_record& rec) {
    std::vector<std::string> out;
    if (const auto* late = rec.aggregate.find(metric::send_lateness_p99))
        if (auto w = lateness_warning(inst, late->value)) out.push_back(std::move(*w));
    if (auto w = held_warning(inst, rec)) out.push_back(std::move(*w));
    return out;
}

std::chrono::nanoseconds planned_time(const instance& inst) {
    if (inst.search)
        return (inst.job.warmup + inst.search->probe_duration) * static_cast<long>(inst.search->max_probes);
    std::size_t n = inst.until ? std::max<std::size_t>(inst.until->max_repeat, inst.repeat) : inst.repeat;
    n = std::max<std::size_t>(n, 1) * (inst.compare_direct ? 2 : 1); // compare_direct runs each repeat twice
    if (inst.compare_idle) // each latency member runs alone after each repeat of the group
        n *= 1 + static_cast<std::size_t>(
                     std::count_if(inst.members.begin(), inst.members.end(),
                                   [](const instance& m) { return !engine::info(m.job.kind).stream(); }));
    return (inst.job.warmup + inst.job.duration) * static_cast<long>(n);
}

instance_record record_of(const instance& inst) {
    instance_record rec;
    rec.id = inst.id;
    rec.scenario = inst.scenario;
    rec.kind = inst.job.kind;
    rec.parameters = inst.matrix;
    for (const auto& g : inst.gate)
        rec.gate.emplace_back(info(g.which).name, g.text);
    rec.client_host = inst.client;
    rec.server_host = inst.server;
    rec.client_job = inst.for_side(side::client);
    rec.server_job = inst.for_side(side::server);
    rec.member = inst.member;
    if (inst.is_group()) {
        rec.group.emplace();
        for (const auto& m : inst.members)
            rec.members.push_back(record_of(m));
    }
    return rec;
}

instance_record run_instance(const plan& p, const instance& inst, agent_pool& pool, progress& prog) {
    auto began = std::chrono::steady_clock::now();
    instance_record rec = record_of(inst);
    remote::agent_client* client = pool.find(inst.client);
    remote::agent_client* server = pool.find(inst.server);
    if (!client || !server) {
        rec.status = instance_status::failed;
        rec.failure = host_unavailable(pool, !client ? inst.client : inst.server);
        return rec;
    }
    std::vector<remote::agent_client*> via;
    std::vector<std::string> via_addresses;
    for (const auto& h : inst.via) {
        via.push_back(pool.find(h));
        via_addresses.push_back(address_of(p, pool, h));
        if (!via.back()) {
            rec.status = instance_status::failed;
            rec.failure = host_unavailable(pool, h);
            return rec;
        }
    }
    if (inst.compare_direct) rec.direct.emplace();
    until_rule rule;
    if (inst.until) {
        rule = *inst.until;
        rule.min_repeat = std::max<std::size_t>({rule.min_repeat, inst.repeat, 2});
    }
    std::size_t shown = inst.until ? std::max(rule.max_repeat, rule.min_repeat) : inst.repeat;
    std::vector<double> headline_values;
    metric watched = headline_metric(inst.job.kind);
    // A search runs probes instead of repeats; its peak's run is the one repeat it records.
    if (inst.search)
        run_search({&inst, client, server, address_of(p, pool, inst.server), 0, [&prog] { prog.tick(); }},
                   prog, rec);
    for (std::size_t r = 0; !inst.search; ++r) {
        bool more = inst.until ? needs_another_repeat(rule, headline_values) : r < inst.repeat;
        if (!more) break;
        if (interrupt_requested) {
            rec.failure = interrupted_at("repeat", interrupt_signal);
            break;
        }
        prog.repeat(r, shown);
        repeat_context ctx{
            &inst, client,       server, address_of(p, pool, inst.server), r, [&prog] { prog.tick(); },
            via,   via_addresses};
        if (prog.interval()) ctx.live = &prog;
        auto rep = run_repeat(ctx);
        if (!rep) {
            rec.failure = rep.error();
            break;
        }
        if (rec.direct) { // the same repeat without the proxies, right after the chain's
            ctx.via.clear();
            ctx.via_addresses.clear();
            auto direct = run_repeat(ctx);
            if (!direct) {
                rec.failure = direct.error();
                rec.failure->step = "direct " + rec.failure->step;
                break;
            }
            rec.direct->repeats.push_back(std::move(*direct));
        }
        headline_values.push_back(rep->metrics[static_cast<std::size_t>(watched)].value_or(0));
        rec.repeats.push_back(std::move(*rep));
    }
    if (rec.failure)
        rec.status = rec.failure->interrupted ? instance_status::interrupted : instance_status::failed;
    finish_aggregate(inst, rec);
    if (!inst.via.empty()) rec.hops = summarize_hops(inst.job.kind, inst.via, rec.repeats);
    if (rec.direct) compare_direct(rec.aggregate, rec.hops, *rec.direct);
    rec.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    return rec;
}

void run_instances(const plan& p, const std::vector<instance>& instances, agent_pool& pool, progress& prog,
                   run_record& run, const std::function<void(const instance_record&)>& persist) {
    bool aborted = false;
    setup_keeper setups(p, pool, prog); // restores what it applied however this loop ends
    for (std::size_t k = 0; k < instances.size(); ++k) {
        const instance& inst = instances[k];
        if (aborted || interrupt_requested) {
            instance_record rec = record_of(inst);
            rec.status = instance_status::skipped;
            for (auto& m : rec.members)
                m.status = instance_status::skipped;
            run.instances.push_back(std::move(rec));
            continue;
        }
        prog.begin(k + 1, inst.id, planned_time(inst));
        instance_record set;
        if (auto failed = setups.enter(inst, set)) {
            // Before any traffic: the instance fails, its members with it.
            instance_record rec = record_of(inst);
            rec.status = instance_status::failed;
            rec.failure = std::move(failed);
            rec.setup = std::move(set.setup);
            for (auto& m : rec.members)
                m.status = instance_status::failed;
            run.instances.push_back(std::move(rec));
        } else {
            run.instances.push_back(inst.is_group() ? run_group(p, inst, pool, prog)
                                                    : run_instance(p, inst, pool, prog));
            run.instances.back().setup = std::move(set.setup);
        }
        const auto& rec = run.instances.back();
        prog.end(rec);
        // A host whose agent died or stopped answering is declared dead once: the instances after
        // this one that need it fail at once, with this reason.
        if (rec.failure && rec.failure->host_lost && pool.find(rec.failure->host)) {
            pool.declare_dead(rec.failure->host, *rec.failure);
            prog.log(
                fmt::format("kperf-plan: host {} declared dead ({}: {}); the instances that need it fail "
                            "at once",
                            rec.failure->host, rec.failure->step, rec.failure->error));
        }
        persist(rec);
        if (rec.status == instance_status::failed && inst.when_failed == on_error::abort_run) {
            prog.log(fmt::format("on_error: abort: skipping the {} remaining instance(s)",
                                 instances.size() - k - 1));
            aborted = true;
        }
    }
    if (aborted) run.status = run_status::aborted;
}

namespace {

/// Members of one group pinned to the same CPUs of one host would measure each other: every
/// explicit CPU list of a group on a host must be disjoint from the others there.
std::string check_group_cpus(const plan& p, const std::vector<instance>& instances) {
    std::string out;
    std::set<std::string> seen;
    for (const auto& g : instances) {
        struct pinned {
            const instance* m;
            const char* side;
            std::string host;
            const engine::placement_rule* rule;
            source_loc loc;
        };
        std::vector<pinned> all;
        for (const auto& m : g.members) {
            if (m.client_placement.how == engine::placement_rule::kind::cpus)
                all.push_back({&m, "client", m.client, &m.client_placement, m.client_placement_loc});
            if (m.server_placement.how == engine::placement_rule::kind::cpus)
                all.push_back({&m, "server", m.server, &m.server_placement, m.server_placement_loc});
        }
        for (std::size_t i = 0; i < all.size(); ++i)
            for (std::size_t j = 0; j < i; ++j) {
                const auto &a = all[i], &b = all[j];
                if (a.host != b.host || a.m == b.m) continue;
                std::vector<int> common;
                for (int c : a.rule->cpus)
                    if (std::find(b.rule->cpus.begin(), b.rule->cpus.end(), c) != b.rule->cpus.end())
                        common.push_back(c);
                if (common.empty() || !seen.insert(fmt::format("{}|{}|{}|{}|{}", g.scenario, a.m->member,
                                                               a.side, b.m->member, b.side))
                                           .second)
                    continue;
                out += p.diagnose(a.loc,
                                  fmt::format("group '{}': member {} ({}) and member {} ({}) are both pinned "
                                              "to CPU {} of host {}; members of a group run at once",
                                              g.scenario, a.m->member, a.side, b.m->member, b.side,
                                              engine::format_cpu_list(common), a.host));
            }
    }
    return out;
}

} // namespace

std::string check_placements(const plan& p, const std::vector<instance>& instances, const agent_pool& pool) {
    std::string out;
    std::set<std::string> seen; // a matrix repeats the same rule on the same host
    out += check_group_cpus(p, instances);
    for (const instance* ip : pair_instances(instances)) {
        const instance& inst = *ip;
        std::vector<std::tuple<std::string, engine::placement_rule, source_loc>> sides{
            {inst.client, inst.client_placement, inst.client_placement_loc},
            {inst.server, inst.server_placement, inst.server_placement_loc}};
        for (const auto& h : inst.via)
            sides.emplace_back(h, inst.via_placement, inst.via_placement_loc);
        for (const auto& [host, rule, loc] : sides) {
            const auto* agent = pool.find(host);
            if (!agent) continue;
            const auto& allowed = agent->caps().allowed_cpus;
            auto why = engine::check_placement(rule, allowed);
            if (why && seen.insert(host + "\n" + engine::to_string(rule)).second)
                out += p.diagnose(
                    loc, fmt::format("placement '{}' cannot hold on host {} (allowed CPUs {}): {}",
                                     engine::to_string(rule), host, engine::format_cpu_list(allowed), *why));
        }
        // distinct_rx keeps only connections whose receive CPUs are all distinct: more flows than
        // a side has CPUs can never all be kept (establishing gives up only after connecting).
        if (!inst.job.distinct_rx) continue;
        for (const auto& host : {inst.client, inst.server}) {
            const auto* agent = pool.find(host);
            if (!agent) continue;
            const auto& allowed = agent->caps().allowed_cpus;
            if (allowed.empty() || inst.job.flows <= allowed.size() ||
                !seen.insert(fmt::format("{}\ndistinct_rx {}", host, inst.job.flows)).second)
                continue;
            out +=
                p.diagnose(inst.distinct_rx_loc,
                           fmt::format("distinct_rx: {} flows need {} distinct receive CPUs, but host {} has "
                                       "{} (allowed CPUs {}); use at most {} flows or drop distinct_rx",
                                       inst.job.flows, inst.job.flows, host, allowed.size(),
                                       engine::format_cpu_list(allowed), allowed.size()));
        }
    }
    return out;
}

} // namespace kp::runner
