#include "runner/orchestrate/search.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/plan/human.hpp"
#include "runner/results/aggregate.hpp"
#include "runner/results/expect_eval.hpp"

namespace kp::runner {
namespace {

bool is_stream(engine::traffic k) {
    return engine::info(k).stream();
}

/// Messages/s that made it: completed transactions (rr, crr) or datagrams received (udp_stream).
double achieved_rate(engine::traffic kind, const repeat_record& r) {
    if (!is_stream(kind)) return r.metrics[static_cast<std::size_t>(metric::transactions_per_s)].value_or(0);
    double rate = 0;
    for (const auto* side : {&r.client, &r.server}) {
        double got = static_cast<double>(side->totals.datagrams_received); // flows may be folded
        if (side->seconds > 0) rate += got / side->seconds;
    }
    return rate;
}

/// "p99 85.2 us" or "loss 0.0100%": the figure a progress line shows for a probe.
std::string probe_figure(const probe_record& p) {
    if (const auto& l = p.metrics[static_cast<std::size_t>(metric::latency_p99)])
        return "p99 " + human_us(*l);
    if (const auto& l = p.metrics[static_cast<std::size_t>(metric::loss_ratio)])
        return "loss " + human_percent(*l);
    return "-";
}

/// After the phase in a probe's progress line: which of the rate's probes it is.
constexpr const char* attempt_words[] = {"", ", confirming", ", tie-break", ", tie-break"};

} // namespace

std::string rate_text(double per_s) {
    return human_rate(per_s);
}

probe_record judge_probe(const search_rule& rule, double offered, const probe_measurement& m) {
    probe_record p;
    p.offered = offered;
    p.achieved = m.achieved;
    p.samples = m.samples;
    p.metrics = m.metrics;
    p.passed = true;
    // One run is an aggregate of one: the same evaluation (and wording) as `expect:`.
    const metric_values one[] = {m.metrics};
    const engine::histogram none[1];
    const instance_aggregate agg = aggregate_repeats(one, none);
    for (const auto& e : rule.slo) {
        check_result c = evaluate_check({e.metric, e.op, e.bound, e.text}, agg);
        p.slo.push_back({e.metric, e.text, c.measured, c.passed});
        if (!c.passed && p.passed) p.why = describe_check(c);
        p.passed = p.passed && c.passed;
    }
    if (m.achieved < search_min_achieved * offered) {
        std::string why = fmt::format("achieved {} is below {:g}% of the offered {}", rate_text(m.achieved),
                                      search_min_achieved * 100, rate_text(offered));
        if (p.passed)
            p.why = why;
        else
            p.why += "; " + why;
        p.passed = false;
    }
    return p;
}

std::uint64_t samples_needed(const search_rule& rule) {
    std::uint64_t need = 0;
    for (const auto& e : rule.slo) {
        auto m = metric_from_name(e.metric);
        auto p = m ? percentile_of(*m) : std::nullopt;
        if (!p) continue;
        need = std::max(need, static_cast<std::uint64_t>(std::llround(10 / (1 - *p / 100))));
    }
    return need;
}

std::chrono::nanoseconds probe_duration_at(const search_rule& rule, double offered) {
    const std::chrono::nanoseconds min = rule.probe_duration;
    const auto need = static_cast<double>(samples_needed(rule));
    if (need == 0 || offered <= 0) return min;
    const std::chrono::nanoseconds cap = std::max<std::chrono::nanoseconds>(min, search_max_sample_duration);
    // Whole milliseconds: the rounding stays well below one sample's share at any searchable rate.
    const auto ms = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(need / offered * 1000)));
    return std::clamp<std::chrono::nanoseconds>(ms, min, cap);
}

std::vector<inversion> find_inversions(const std::vector<probe_record>& probes) {
    std::vector<inversion> out;
    for (const auto& p : probes) {
        if (!p.passed) continue;
        const probe_record* low = nullptr; // the failed probe of the lowest rate at or below p's
        for (const auto& f : probes)
            if (!f.passed && f.offered <= p.offered && (!low || f.offered < low->offered)) low = &f;
        if (low) out.push_back({p.index, low->index, p.offered, low->offered});
    }
    return out;
}

std::string inversions_text(const search_record& s) {
    if (s.inversions.empty()) return "";
    const inversion* widest = &s.inversions.front();
    for (const auto& i : s.inversions)
        if (i.pass_offered / i.fail_offered > widest->pass_offered / widest->fail_offered) widest = &i;
    return fmt::format("not monotonic: {} probe(s) passed at or above a failed rate (widest: {} passed, {} "
                       "failed)",
                       s.inversions.size(), rate_text(widest->pass_offered), rate_text(widest->fail_offered));
}

search_run search_peak(const search_rule& rule, const probe_fn& probe, const elapsed_fn& elapsed,
                       const probe_observer& seen, double late_limit_us) {
    search_run out;
    auto& rec = out.record;
    rec.samples_needed = samples_needed(rule);
    std::optional<double> pass, fail; // the bracket so far, from the rates' verdicts
    std::optional<double> lowest_failed; // the lowest rate any probe failed at
    // No probe starts once the probes or the time are spent.
    auto budget_left = [&] {
        if (rec.probes.size() >= rule.max_probes) {
            rec.stopped = fmt::format("stopped after max_probes ({}) probes", rule.max_probes);
            return false;
        }
        if (rule.max_time.count() > 0 && elapsed() >= rule.max_time) {
            rec.stopped = fmt::format("stopped at max_time ({}) after {} probes",
                                      format_duration(rule.max_time), rec.probes.size());
            return false;
        }
        return true;
    };
    // Runs one probe; nullopt when the budget is spent or it could not run (out.failure says).
    // `may_skip`: a failure on latency alone with late sends is not counted (probe.counted).
    auto once = [&](double offered, const char* phase, std::uint8_t attempt,
                    bool may_skip) -> std::optional<bool> {
        if (!budget_left()) return std::nullopt;
        const auto duration = probe_duration_at(rule, offered);
        auto m = probe(offered, duration, rec.probes.size());
        if (!m) {
            out.failure = m.error();
            return std::nullopt;
        }
        probe_record p = judge_probe(rule, offered, *m);
        p.index = rec.probes.size();
        p.phase = phase;
        p.attempt = attempt;
        p.duration_s = std::chrono::duration<double>(duration).count();
        if (const auto& v = p.metrics[static_cast<std::size_t>(metric::send_lateness_p99)]; v && *v > late_limit_us)
            p.late_sends = true;
        if (may_skip && !p.passed && p.late_sends && p.achieved >= search_min_achieved * offered) {
            p.counted = false;
            p.why += "; not counted: the client's sends left late, so the rate is probed again";
        }
        if (!p.passed && p.counted && (!lowest_failed || offered < *lowest_failed)) lowest_failed = offered;
        rec.probes.push_back(std::move(p));
        if (seen) seen(rec.probes.back());
        return rec.probes.back().passed;
    };
    // A rate's verdict. A failure, or a pass above a rate that failed, is what moves the bracket
    // wrongly when one probe is noisy, so it is confirmed; 2 of 3 decide when the two disagree.
    // A failure on latency alone while the client's sends left late is not a vote, once per
    // rate: the rate is probed again (a lone pass then still needs its confirmation).
    auto judge_rate = [&](double offered, const char* phase) -> std::optional<bool> {
        const bool above_failure = lowest_failed && offered > *lowest_failed;
        std::uint8_t attempt = 0, passes = 0, fails = 0;
        bool skipped = false;
        for (;;) {
            auto v = once(offered, phase, ++attempt, !skipped);
            if (!v) return v;
            if (!rec.probes.back().counted) {
                skipped = true;
                continue;
            }
            ++(*v ? passes : fails);
            if (passes == 1 && fails == 0 && !above_failure && !skipped) return true;
            if (passes == 2 || fails == 2) return passes == 2;
        }
    };
    // Records a verdict in the bracket; false when the search has to stop (budget or failure).
    auto decide = [&](double offered, const char* phase) {
        auto v = judge_rate(offered, phase);
        if (v) (*v ? pass : fail) = offered;
        return v.has_value();
    };
    auto finish = [&](search_outcome o) {
        if (out.failure) o = search_outcome::failed;
        rec.outcome = o;
        rec.peak = rec.bracket_low = pass;
        rec.bracket_high = fail;
        rec.inversions = find_inversions(rec.probes);
        return out;
    };

    // Ramp: low, 2 low, 4 low, ... capped at high, until a rate fails.
    for (double r = rule.low_per_s;; r = std::min(2 * r, rule.high_per_s)) {
        if (!decide(r, "ramp")) return finish(search_outcome::unresolved);
        if (fail) break;
        if (r >= rule.high_per_s) {
            rec.stopped = fmt::format("the SLO holds at the top of the range ({})", rate_text(r));
            return finish(search_outcome::top_of_range);
        }
    }
    if (!pass) {
        rec.stopped = fmt::format("the SLO is not met even at the low end ({})", rate_text(rule.low_per_s));
        return finish(search_outcome::below_range);
    }
    // Bisection between the last pass and the first fail.
    while ((*fail - *pass) / *pass > rule.precision) {
        double mid = (*pass + *fail) / 2;
        if (mid - *pass < 0.5) break; // whole messages/s cannot split it further
        if (!decide(mid, "bisect")) return finish(search_outcome::unresolved);
    }
    rec.stopped = fmt::format("bracket [{}, {}] is within {:g}%", rate_text(*pass), rate_text(*fail),
                              rule.precision * 100);
    return finish(search_outcome::bracketed);
}

void run_search(const repeat_context& ctx, progress& prog, instance_record& rec) {
    const instance& inst = *ctx.inst;
    const search_rule& rule = *inst.search;
    instance probe_inst = inst;
    std::map<std::size_t, repeat_record> runs; // by probe index; the peak's becomes rec.repeats
    auto began = std::chrono::steady_clock::now();
    auto probe = [&](double offered, std::chrono::nanoseconds duration,
                     std::size_t index) -> std::expected<probe_measurement, failure_reason> {
        if (interrupt_requested) return std::unexpected(interrupted_at("probe", interrupt_signal));
        prog.repeat(index, rule.max_probes);
        probe_inst.job.rate = offered;
        probe_inst.job.duration = duration.count() > 0 ? duration : inst.job.duration;
        repeat_context c = ctx;
        c.inst = &probe_inst;
        c.index = index;
        auto rep = run_repeat(c);
        if (!rep) {
            rep.error().step = fmt::format("probe {} at {}: {}", index, rate_text(offered), rep.error().step);
            return std::unexpected(rep.error());
        }
        probe_measurement m{achieved_rate(inst.job.kind, *rep), rep->client.latency.count(), rep->metrics};
        runs.emplace(index, std::move(*rep));
        return m;
    };
    auto elapsed = [&] { return std::chrono::steady_clock::now() - began; };
    auto seen = [&](const probe_record& p) {
        prog.log(fmt::format("{}: probe {} ({}{}) offered {}: achieved {}, {}: {}{}", inst.id, p.index, p.phase,
                             attempt_words[std::min<std::size_t>(p.attempt, 4) - 1], rate_text(p.offered), rate_text(p.achieved), probe_figure(p),
                             p.passed ? "pass" : "FAIL", p.passed ? "" : " (" + p.why + ")"));
    };
    const double limit = lateness_limit_us(inst);
    auto run = search_peak(rule, probe, elapsed, seen, limit);
    if (run.failure) rec.failure = run.failure;
    std::size_t late = 0, stolen = 0;
    double worst = 0, most_stolen = 0;
    for (auto& p : run.record.probes) {
        if (auto r = runs.find(p.index); r != runs.end()) p.steal_share = steal_share(r->second);
        if (p.steal_share > steal_warn_share) {
            ++stolen;
            most_stolen = std::max(most_stolen, p.steal_share);
        }
    }
    if (stolen > 0)
        rec.warnings.push_back(fmt::format("{} of {} probes ran while the hypervisor took more than {} of the CPU "
                                           "time (/proc/stat steal, up to {}): their verdicts are partly the VM's",
                                           stolen, run.record.probes.size(), human_percent(steal_warn_share),
                                           human_percent(most_stolen)));
    for (const auto& p : run.record.probes)
        if (p.late_sends) {
            ++late;
            worst = std::max(worst, p.metrics[static_cast<std::size_t>(metric::send_lateness_p99)].value_or(0));
        }
    if (late > 0)
        rec.warnings.push_back(fmt::format("{} of {} probes: the client's paced sends left late (send_lateness_p99 "
                                           "up to {} > {}): those verdicts may be the client's, not the system's",
                                           late, run.record.probes.size(), human_us(worst), human_us(limit)));
    for (const auto& p : run.record.probes)
        if (p.passed && run.record.peak && p.offered == *run.record.peak) {
            rec.repeats.push_back(std::move(runs.at(p.index)));
            break;
        }
    if (run.record.outcome == search_outcome::below_range && !rec.failure) {
        // No rate met the SLO: a failed check, so reports, JUnit and the exit code say so.
        check_result c;
        c.metric = "search_peak";
        c.op = comparison::ge;
        c.bound = rule.low_per_s;
        c.text = fmt::format(">= {} (the low end)", rate_text(rule.low_per_s));
        rec.checks.push_back(c);
        rec.status = instance_status::expect_failed;
    }
    prog.log(fmt::format("{}: peak {}: {}", inst.id, run.record.peak ? rate_text(*run.record.peak) : "none",
                         run.record.stopped));
    if (auto inv = inversions_text(run.record); !inv.empty()) prog.log(fmt::format("{}: {}", inst.id, inv));
    rec.search = std::move(run.record);
}

const char* to_string(search_outcome o) {
    switch (o) {
    case search_outcome::bracketed:
        return "bracketed";
    case search_outcome::top_of_range:
        return "top_of_range";
    case search_outcome::below_range:
        return "below_range";
    case search_outcome::unresolved:
        return "unresolved";
    case search_outcome::failed:
        return "failed";
    }
    return "?";
}

} // namespace kp::runner
