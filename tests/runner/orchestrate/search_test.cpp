// Peak search: the loop (ramp, bisection, bounds, precision, bracket) over a fake probe, and
// `search:` in the plan language.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>

#include <fmt/format.h>

#include "plan/plan_errors.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/orchestrate/search.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"
#include "runner/report/json.hpp"
#include "runner/report/summary.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;
using namespace std::chrono_literals;

namespace {

/// A system whose p99 is 100 us up to `knee` messages/s and 5 ms above it; it achieves what it
/// is offered up to `capacity`. The probes in `noisy` (by index) get the other verdict's p99.
struct fake_system {
    double knee = 100'000;
    double capacity = 1e12;
    std::set<std::size_t> noisy;
    std::set<std::size_t> late; ///< probes whose sends left 4.9 ms late (and so fail on p99)
    std::vector<double> offered;                  ///< every probe, in order
    std::vector<std::chrono::nanoseconds> length; ///< every probe's duration
    probe_fn fn() {
        return [this](double rate, std::chrono::nanoseconds duration,
                      std::size_t index) -> std::expected<probe_measurement, failure_reason> {
            CHECK(index == offered.size());
            offered.push_back(rate);
            length.push_back(duration);
            probe_measurement m;
            m.achieved = std::min(rate, capacity);
            m.samples = static_cast<std::uint64_t>(m.achieved * std::chrono::duration<double>(duration).count());
            bool fast = (rate <= knee) != noisy.contains(index) && !late.contains(index);
            m.metrics[static_cast<std::size_t>(metric::latency_p99)] = fast ? 100.0 : 5000.0;
            m.metrics[static_cast<std::size_t>(metric::send_lateness_p99)] = late.contains(index) ? 4900.0 : 5.0;
            m.metrics[static_cast<std::size_t>(metric::transactions_per_s)] = m.achieved;
            return m;
        };
    }
};

search_rule rule(double low, double high, double precision = 0.05) {
    search_rule r;
    r.low_per_s = low;
    r.high_per_s = high;
    r.precision = precision;
    r.probe_duration = 1s;
    auto slo = parse_expectation("latency_p99", "< 1ms");
    REQUIRE(slo.has_value());
    r.slo.push_back(*slo);
    return r;
}

elapsed_fn no_time() {
    return [] { return std::chrono::nanoseconds(0); };
}

} // namespace

TEST_CASE("search: ramps x2 from the low end, then bisects to the precision, confirming each failure") {
    fake_system sys;
    auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
    REQUIRE_FALSE(run.failure);
    const auto& s = run.record;
    CHECK(s.outcome == search_outcome::bracketed);
    // Ramp: 1k, 2k, 4k, ..., 64k pass; 128k fails, and fails again when confirmed.
    REQUIRE(sys.offered.size() >= 9);
    for (std::size_t i = 0; i < 8; ++i)
        CHECK(sys.offered[i] == doctest::Approx(1000.0 * (1 << i)));
    for (std::size_t i = 0; i < 9; ++i)
        CHECK(s.probes[i].phase == "ramp");
    CHECK(s.probes[7].passed == false);
    CHECK(s.probes[7].attempt == 1);
    CHECK(s.probes[7].why == "latency_p99 < 1ms: measured 5.00 ms");
    CHECK(sys.offered[8] == 128000);
    CHECK(s.probes[8].attempt == 2);
    CHECK_FALSE(s.probes[8].passed);
    // Bisection between 64k and 128k: 96k pass, 112k fail x2, 104k fail x2, 100k pass -> (104-100)/100 <= 5%.
    // Passes below every failure are not confirmed.
    CHECK(sys.offered == std::vector<double>{1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 128000, 96000,
                                             112000, 112000, 104000, 104000, 100000});
    CHECK(s.probes[9].phase == "bisect");
    CHECK(s.probes[9].attempt == 1);
    CHECK(s.probes[11].attempt == 2);
    REQUIRE(s.peak);
    CHECK(*s.peak == 100000);
    CHECK(*s.bracket_low == 100000);
    CHECK(*s.bracket_high == 104000);
    CHECK((*s.bracket_high - *s.bracket_low) / *s.bracket_low <= 0.05);
    CHECK(s.stopped == "bracket [100k/s, 104k/s] is within 5%");
    CHECK(s.inversions.empty());
    CHECK(inversions_text(s).empty());
    CHECK(s.samples_needed == 1000);
}

TEST_CASE("search: a lone failing probe is outvoted, and later passes above it are confirmed") {
    fake_system sys;
    sys.noisy = {3}; // the first probe at 8k fails
    auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
    const auto& s = run.record;
    REQUIRE(s.outcome == search_outcome::bracketed);
    // 8k: fail, then pass (disagree), then the tie-break passes: 8k passes 2 of 3.
    REQUIRE(sys.offered.size() > 8);
    CHECK(std::vector<double>(sys.offered.begin(), sys.offered.begin() + 8) ==
          std::vector<double>{1000, 2000, 4000, 8000, 8000, 8000, 16000, 16000});
    CHECK_FALSE(s.probes[3].passed);
    CHECK(s.probes[4].attempt == 2);
    CHECK(s.probes[5].attempt == 3);
    CHECK(s.probes[5].passed);
    // 16k passes above a rate that failed once: confirmed.
    CHECK(s.probes[6].attempt == 1);
    CHECK(s.probes[7].attempt == 2);
    // The search goes on to the true knee.
    CHECK(*s.peak == 100000);
    CHECK(*s.bracket_high == 104000);
    // Every pass from 8k up is an inversion against probe 3; the widest is the peak's.
    REQUIRE_FALSE(s.inversions.empty());
    CHECK(s.inversions.front().pass_index == 4);
    CHECK(s.inversions.front().fail_index == 3);
    CHECK(s.inversions.front().fail_offered == 8000);
    for (const auto& i : s.inversions)
        CHECK(i.fail_index == 3);
    std::size_t passes_from_8k = 0;
    for (const auto& p : s.probes)
        passes_from_8k += p.passed && p.offered >= 8000;
    CHECK(s.inversions.size() == passes_from_8k);
    CHECK(inversions_text(s) == fmt::format("not monotonic: {} probe(s) passed at or above a failed rate "
                                            "(widest: 100k/s passed, 8000/s failed)",
                                            passes_from_8k));
}

TEST_CASE("search: a pass above a failure that its confirmation contradicts goes to a tie-break") {
    // 8k fails once (outvoted); at 16k the first probe passes, the confirmation fails.
    for (bool tie_break_fails : {false, true}) {
        CAPTURE(tie_break_fails);
        fake_system sys;
        sys.noisy = {3, 7};
        if (tie_break_fails) sys.noisy.insert(8);
        auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
        const auto& s = run.record;
        REQUIRE(sys.offered.size() > 9);
        CHECK(sys.offered[6] == 16000);
        CHECK(sys.offered[7] == 16000);
        CHECK(sys.offered[8] == 16000);
        CHECK(s.probes[8].attempt == 3);
        REQUIRE(s.outcome == search_outcome::bracketed);
        if (tie_break_fails) {
            // 2 of 3 failed: 16k fails, and the bracket is [8k, 16k].
            CHECK(*s.bracket_high <= 16000);
            CHECK(*s.peak >= 8000);
            CHECK(sys.offered[9] == 12000);
        } else {
            CHECK(sys.offered[9] == 32000); // 16k passed 2 of 3: the ramp goes on
            CHECK(*s.peak == 100000);
        }
    }
}

TEST_CASE("search: two failing probes bracket even when the system is only noisy") {
    fake_system sys;
    sys.noisy = {3, 4}; // 8k fails twice: confirmed, no tie-break
    auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
    const auto& s = run.record;
    REQUIRE(s.outcome == search_outcome::bracketed);
    CHECK(sys.offered[5] == 6000); // bisection in [4k, 8k]
    CHECK(*s.bracket_high <= 8000);
    CHECK(s.inversions.empty());
}

TEST_CASE("search: a failure whose sends left late is not counted, once per rate") {
    const double limit = 100; // us, as lateness_limit_us gives for a 1 ms SLO
    SUBCASE("the rate is probed again; the pass that follows is confirmed") {
        fake_system sys;
        sys.late = {3}; // the first probe at 8k
        auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time(), {}, limit);
        const auto& s = run.record;
        REQUIRE(s.outcome == search_outcome::bracketed);
        REQUIRE(sys.offered.size() > 7);
        CHECK(std::vector<double>(sys.offered.begin(), sys.offered.begin() + 7) ==
              std::vector<double>{1000, 2000, 4000, 8000, 8000, 8000, 16000});
        CHECK(s.probes[3].late_sends);
        CHECK_FALSE(s.probes[3].counted);
        CHECK(s.probes[3].why == "latency_p99 < 1ms: measured 5.00 ms; not counted: the client's sends left late, "
                                 "so the rate is probed again");
        CHECK(s.probes[4].counted);
        CHECK(s.probes[5].attempt == 3);
        // The uncounted failure is no failed rate: 16k passes on its own probe, the ramp goes on.
        CHECK(sys.offered[7] == 32000);
        CHECK(*s.peak == 100000);
        for (const auto& p : s.probes)
            CHECK(p.late_sends == (p.index == 3));
    }
    SUBCASE("a second late failure at the same rate counts") {
        fake_system sys;
        sys.late = {3, 4, 5};
        auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time(), {}, limit);
        const auto& s = run.record;
        REQUIRE(s.outcome == search_outcome::bracketed);
        CHECK_FALSE(s.probes[3].counted);
        CHECK(s.probes[4].counted);
        CHECK(s.probes[5].counted);
        CHECK(sys.offered[6] == 6000); // 8k failed 2 counted votes: bisection in [4k, 8k]
        CHECK(*s.bracket_high <= 8000);
    }
    SUBCASE("a late failure that also fell short of the rate counts") {
        fake_system sys;
        sys.knee = 1e12;
        sys.capacity = 6000; // 8k achieves 75%: the system's limit, whatever the client's lateness
        sys.late = {3};
        auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time(), {}, limit);
        const auto& s = run.record;
        CHECK(s.probes[3].counted);
        CHECK(sys.offered[4] == 8000); // its confirmation, attempt 2
        CHECK(s.probes[4].attempt == 2);
    }
    SUBCASE("without a limit nothing is late") {
        fake_system sys;
        sys.late = {3, 4};
        auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
        for (const auto& p : run.record.probes) {
            CHECK_FALSE(p.late_sends);
            CHECK(p.counted);
        }
        CHECK(sys.offered[5] == 6000); // 8k failed twice: bisection
    }
}

TEST_CASE("search: each probe lasts long enough for its percentile's samples") {
    auto r = rule(100, 2e6);
    CHECK(samples_needed(r) == 1000);
    CHECK(probe_duration_at(r, 100) == 10s);
    CHECK(probe_duration_at(r, 1000) == 1s);
    CHECK(probe_duration_at(r, 300) == 3334ms);
    CHECK(probe_duration_at(r, 1e6) == 1s); // probe_duration is the minimum
    auto p999 = parse_expectation("latency_p999", "< 5ms");
    REQUIRE(p999.has_value());
    r.slo.push_back(*p999);
    CHECK(samples_needed(r) == 10000); // the highest percentile of the SLO
    CHECK(probe_duration_at(r, 1000) == 10s);
    CHECK(probe_duration_at(r, 100) == search_max_sample_duration); // 100 s, capped
    r.probe_duration = 2min;
    CHECK(probe_duration_at(r, 100) == 2min); // a longer probe_duration is kept
    auto p50 = parse_expectation("latency_p50", "< 5ms");
    auto loss = parse_expectation("loss_ratio", "< 0.1%");
    REQUIRE(p50.has_value());
    REQUIRE(loss.has_value());
    r.slo = {*p50};
    CHECK(samples_needed(r) == 20);
    r.slo = {*loss};
    CHECK(samples_needed(r) == 0);
    CHECK(probe_duration_at(r, 1) == 2min);

    // The loop asks the probe for that duration and records it.
    fake_system sys;
    auto run = search_peak(rule(250, 2000), sys.fn(), no_time());
    REQUIRE(sys.length.size() == 4);
    CHECK(sys.length[0] == 4s); // 1000 samples at 250/s
    CHECK(sys.length[1] == 2s);
    CHECK(sys.length[2] == 1s);
    CHECK(sys.length[3] == 1s);
    CHECK(run.record.probes[0].duration_s == 4.0);
    CHECK(run.record.probes[0].samples == 1000);
}

TEST_CASE("search: inversions pair each pass with the lowest failed rate at or below it") {
    auto probe = [](std::size_t i, double offered, bool passed) {
        probe_record p;
        p.index = i;
        p.offered = offered;
        p.passed = passed;
        return p;
    };
    std::vector<probe_record> ps = {probe(0, 1000, true), probe(1, 4000, false), probe(2, 2000, false),
                                    probe(3, 2000, true),  probe(4, 8000, true),  probe(5, 1500, true)};
    auto inv = find_inversions(ps);
    REQUIRE(inv.size() == 2);
    CHECK(inv[0].pass_index == 3); // same rate as a failure: the probes disagreed
    CHECK(inv[0].fail_index == 2);
    CHECK(inv[1].pass_index == 4);
    CHECK(inv[1].fail_index == 2);
    CHECK(inv[1].pass_offered == 8000);
    search_record s;
    s.inversions = inv;
    CHECK(inversions_text(s) ==
          "not monotonic: 2 probe(s) passed at or above a failed rate (widest: 8000/s passed, 2000/s failed)");
}

TEST_CASE("search: the peak lies below the knee and tightens with the precision") {
    for (double knee : {3'333.0, 47'000.0, 1'234'567.0})
        for (double precision : {0.2, 0.05, 0.01}) {
            fake_system sys;
            sys.knee = knee;
            auto run = search_peak(rule(1000, 2e6, precision), sys.fn(), no_time());
            const auto& s = run.record;
            REQUIRE(s.outcome == search_outcome::bracketed);
            CHECK(*s.peak <= knee);
            CHECK(*s.bracket_high > knee);
            CHECK((*s.bracket_high - *s.bracket_low) / *s.bracket_low <= precision);
            // Each probe's verdict is consistent with the fake system.
            for (const auto& p : s.probes)
                CHECK(p.passed == (p.offered <= knee));
        }
}

TEST_CASE("search: a probe that achieves less than 98% of the offered rate fails") {
    fake_system sys;
    sys.capacity = 30'000; // latency would pass, but the system cannot keep up above 30k/s
    auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
    const auto& s = run.record;
    REQUIRE(s.outcome == search_outcome::bracketed);
    CHECK(*s.peak <= 30'000 / 0.98);
    CHECK(*s.bracket_high > 30'000 / 0.98);
    CHECK(s.probes[5].offered == 32000);
    CHECK_FALSE(s.probes[5].passed);
    CHECK(s.probes[5].why == "achieved 30.0k/s is below 98% of the offered 32.0k/s");
}

TEST_CASE("search: SLO met at the top of the range") {
    fake_system sys;
    sys.knee = 1e9;
    auto run = search_peak(rule(1000, 5000), sys.fn(), no_time());
    const auto& s = run.record;
    CHECK(s.outcome == search_outcome::top_of_range);
    // 1k, 2k, 4k, then the top itself (5k, not 8k).
    REQUIRE(sys.offered == std::vector<double>{1000, 2000, 4000, 5000});
    CHECK(*s.peak == 5000);
    CHECK_FALSE(s.bracket_high);
    CHECK(s.stopped == "the SLO holds at the top of the range (5000/s)");
}

TEST_CASE("search: SLO not met even at the low end") {
    fake_system sys;
    sys.knee = 10;
    auto run = search_peak(rule(1000, 2e6), sys.fn(), no_time());
    const auto& s = run.record;
    CHECK(s.outcome == search_outcome::below_range);
    CHECK(sys.offered == std::vector<double>{1000, 1000}); // the failure is confirmed
    CHECK_FALSE(s.peak);
    CHECK(*s.bracket_high == 1000);
    CHECK(s.stopped == "the SLO is not met even at the low end (1000/s)");
}

TEST_CASE("search: bounded by max_probes and by max_time") {
    fake_system sys;
    auto r = rule(1000, 2e6, 0.0001);
    r.max_probes = 10;
    auto run = search_peak(r, sys.fn(), no_time());
    CHECK(sys.offered.size() == 10);
    CHECK(run.record.outcome == search_outcome::unresolved);
    CHECK(*run.record.peak == 96000); // the best pass so far, with its (wide) bracket
    CHECK(*run.record.bracket_high == 128000);
    CHECK(run.record.stopped == "stopped after max_probes (10) probes");

    // Each fake probe takes 3 s of fake time; max_time 10s lets probes start at 0, 3, 6 and 9 s.
    fake_system slow;
    auto t = rule(1000, 2e6);
    t.max_time = 10s;
    std::chrono::nanoseconds now{0};
    auto inner = slow.fn();
    auto run2 = search_peak(
        t,
        [&](double rate, std::chrono::nanoseconds d, std::size_t i) {
            now += 3s;
            return inner(rate, d, i);
        },
        [&] { return now; });
    CHECK(slow.offered.size() == 4);
    CHECK(run2.record.outcome == search_outcome::unresolved);
    CHECK(*run2.record.peak == 8000);
    CHECK_FALSE(run2.record.bracket_high); // still ramping
    CHECK(run2.record.stopped == "stopped at max_time (10s) after 4 probes");

    // The default bound: a huge range at a tiny precision still stops at 24 probes.
    fake_system many;
    many.knee = 777'777;
    auto run3 = search_peak(rule(1, 1e12, 1e-9), many.fn(), no_time());
    CHECK(many.offered.size() == search_default_probes);
}

TEST_CASE("search: a probe that cannot run stops the search with its failure") {
    fake_system sys;
    auto inner = sys.fn();
    auto run = search_peak(
        rule(1000, 2e6),
        [&](double rate, std::chrono::nanoseconds d,
            std::size_t i) -> std::expected<probe_measurement, failure_reason> {
            if (i == 3) return std::unexpected(failure_reason{"b", "probe 3 at 8000/s: listen", "refused"});
            return inner(rate, d, i);
        },
        no_time());
    REQUIRE(run.failure);
    CHECK(run.failure->step == "probe 3 at 8000/s: listen");
    CHECK(run.record.outcome == search_outcome::failed);
    CHECK(run.record.probes.size() == 3);
    CHECK(*run.record.peak == 4000);
}

TEST_CASE("search: an unmeasured SLO metric fails the probe") {
    auto r = rule(1000, 2000);
    auto loss = parse_expectation("loss_ratio", "< 0.1%");
    REQUIRE(loss.has_value());
    r.slo = {*loss};
    probe_measurement m;
    m.achieved = 1000;
    auto p = judge_probe(r, 1000, m);
    CHECK_FALSE(p.passed);
    CHECK(p.why == "loss_ratio < 0.1%: not measured");
    m.metrics[static_cast<std::size_t>(metric::loss_ratio)] = 0.0005;
    p = judge_probe(r, 1000, m);
    CHECK(p.passed);
    REQUIRE(p.slo.size() == 1);
    CHECK(*p.slo[0].measured == 0.0005);
}

// --- the plan language ---

namespace {

std::string plan_with(std::string_view scenario) {
    return "version: 1\nhosts:\n  me: {}\nscenarios:\n" + std::string(scenario);
}

} // namespace

TEST_CASE("search plan: the issue's example loads and expands to messages/s") {
    auto p = load_plan("x.yaml", plan_with(R"(  - name: rr-knee
    traffic: tcp_rr
    request_size: 64
    response_size: 64
    flows: 16
    search: {rate: [1k/s, 2M/s], slo: {latency_p99: "< 1ms"}, precision: 5%}
  - name: udp
    traffic: udp_stream
    write_size: 1250
    duration: 3s
    search: {rate: [10Mbit/s, 1Gbit/s], slo: {loss: "< 0.1%"}, max_probes: 12, probe_duration: 1s, max_time: 1m}
)"));
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    auto in = expand(*p);
    REQUIRE(in.size() == 2);
    REQUIRE(in[0].search);
    CHECK(in[0].search->low_per_s == 1000);
    CHECK(in[0].search->high_per_s == 2e6);
    CHECK(in[0].search->precision == doctest::Approx(0.05));
    CHECK(in[0].search->max_probes == 24);
    CHECK(in[0].search->probe_duration == 10s); // the scenario's duration
    REQUIRE(in[0].search->slo.size() == 1);
    CHECK(in[0].search->slo[0].metric == "latency_p99");
    CHECK(in[0].search->slo[0].bound == 1000);
    CHECK(in[0].job.rate == 0);
    REQUIRE(in[1].search);
    CHECK(in[1].search->low_per_s == 1000); // 10 Mbit/s of 1250-byte datagrams
    CHECK(in[1].search->high_per_s == 100000);
    CHECK(in[1].search->slo[0].metric == "loss_ratio");
    CHECK(in[1].search->slo[0].bound == doctest::Approx(0.001));
    CHECK(in[1].search->max_probes == 12);
    CHECK(in[1].search->probe_duration == 1s);
    CHECK(in[1].search->max_time == 60s);
    CHECK(planned_time(in[1]) == (2s + 1s) * 12);
}

TEST_CASE("search plan: located errors with did-you-mean") {
    CHECK(errors_of(plan_with(
              "  - name: s\n    traffic: tcp_rr\n    search: {rate: [1k/s, 2M/s], precison: 5%}\n")) ==
          "x.yaml:7:34: unknown key 'precison', did you mean 'precision'?\n"
          "    search: {rate: [1k/s, 2M/s], precison: 5%}\n"
          "                                 ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    search: {rate: [1k/s, 2M/s], slo: "
                              "{latency_p99: \"< 1ms\", "
                              "latncy_p90: \"< 1ms\"}}\n")) ==
          "x.yaml:7:62: search.slo: unknown metric 'latncy_p90', did you mean 'latency_p90'?\n"
          "    search: {rate: [1k/s, 2M/s], slo: {latency_p99: \"< 1ms\", latncy_p90: \"< 1ms\"}}\n"
          "                                                             ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    search: {rate: [2M/s, 1k/s]}\n")) ==
          "x.yaml:7:20: search.rate: the low end (2M/s) is above the high end (1k/s)\n"
          "    search: {rate: [2M/s, 1k/s]}\n"
          "                   ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    search: {rate: [1k/s, unlimited]}\n")) ==
          "x.yaml:7:27: search.rate: expected a positive rate such as 1k/s or 100Mbit/s, got 'unlimited'\n"
          "    search: {rate: [1k/s, unlimited]}\n"
          "                          ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    search: {rate: 1k/s}\n")) ==
          "x.yaml:7:20: search.rate: expected [low, high] such as [1k/s, 2M/s], got a scalar\n"
          "    search: {rate: 1k/s}\n"
          "                   ^\n");
    CHECK(errors_of(
              plan_with("  - name: s\n    traffic: tcp_rr\n    search: {slo: {latency_p99: \"< 1ms\"}}\n")) ==
          "x.yaml:7:13: search: expected 'rate: [low, high]', e.g. {rate: [1k/s, 2M/s], slo: {latency_p99: "
          "\"< 1ms\"}}\n"
          "    search: {slo: {latency_p99: \"< 1ms\"}}\n"
          "            ^\n");
    CHECK(errors_of(plan_with(
              "  - name: s\n    traffic: tcp_rr\n    search: {rate: [1k/s, 2M/s], precision: 0%}\n")) ==
          "x.yaml:7:45: search.precision: expected more than 0% and at most 100%, got '0%'\n"
          "    search: {rate: [1k/s, 2M/s], precision: 0%}\n"
          "                                            ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    serch: {rate: [1k/s, 2M/s]}\n")) ==
          "x.yaml:7:5: unknown key 'serch', did you mean 'search'?\n"
          "    serch: {rate: [1k/s, 2M/s]}\n"
          "    ^\n");
}

TEST_CASE("search plan: rate, matrix over rate, repeat, until and tcp_stream conflict with a search") {
    CHECK(errors_of(plan_with(
              "  - name: s\n    traffic: tcp_rr\n    rate: 10k/s\n    search: {rate: [1k/s, 2M/s]}\n")) ==
          "x.yaml:7:11: 'rate' and 'search' cannot be used together: the search sets each probe's rate\n"
          "    rate: 10k/s\n"
          "          ^\n");
    CHECK(errors_of(
              plan_with("  - name: s\n    traffic: tcp_rr\n    matrix: {flows: [1, 2], rate: [1k/s, 2k/s]}\n"
                        "    search: {rate: [1k/s, 2M/s]}\n")) ==
          "x.yaml:7:29: matrix 'rate' cannot be used with 'search': the search sets each probe's rate and "
          "runs it "
          "once\n"
          "    matrix: {flows: [1, 2], rate: [1k/s, 2k/s]}\n"
          "                            ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_rr\n    repeat: 3\n    until: {ci_width: 2%}\n"
                              "    search: {rate: [1k/s, 2M/s]}\n")) ==
          "x.yaml:7:13: 'repeat' does not apply to a search: each probe runs once\n"
          "    repeat: 3\n"
          "            ^\n"
          "x.yaml:8:12: 'until' does not apply to a search: each probe runs once\n"
          "    until: {ci_width: 2%}\n"
          "           ^\n");
    CHECK(errors_of(plan_with("  - name: s\n    traffic: tcp_stream\n    search: {rate: [1k/s, 2M/s]}\n")) ==
          "x.yaml:7:13: 'search' does not apply to tcp_stream (it applies to tcp_rr, tcp_crr, udp_stream or "
          "udp_rr)\n"
          "    search: {rate: [1k/s, 2M/s]}\n"
          "            ^\n");
    CHECK(errors_of("version: 1\nhosts:\n  me: {}\ndefaults:\n  search: {rate: [1k/s, 2M/s]}\nscenarios:\n"
                    "  - {name: s, traffic: tcp_rr}\n") == "x.yaml:5:3: 'search' is not allowed in defaults\n"
                                                           "  search: {rate: [1k/s, 2M/s]}\n"
                                                           "  ^\n");
    // A rate from defaults gives way to the search; a matrix over other parameters is fine.
    auto p = load_plan(
        "x.yaml", "version: 1\nhosts:\n  me: {}\ndefaults: {rate: 5k/s}\nscenarios:\n"
                  "  - {name: s, traffic: udp_rr, matrix: {flows: [1, 4]}, search: {rate: [1k/s, 8k/s]}}\n");
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    auto in = expand(*p);
    REQUIRE(in.size() == 2);
    CHECK(in[1].id == "s/flows=4");
    CHECK(in[1].job.rate == 0);
    CHECK(in[1].search->high_per_s == 8000);
}

TEST_CASE("search: non-monotonic probes reach results.json and the summary") {
    fake_system sys;
    sys.noisy = {1}; // 2k fails once, then passes twice
    auto run = search_peak(rule(1000, 8000), sys.fn(), no_time());
    REQUIRE(run.record.outcome == search_outcome::top_of_range);
    run_record all;
    instance_record r;
    r.id = "knee";
    r.kind = kp::engine::traffic::tcp_rr;
    r.search = run.record;
    all.instances.push_back(r);
    const auto j = instance_json(all.instances[0])["search"];
    CHECK(j["samples_needed"] == 1000);
    REQUIRE(j["probes"].size() == 1 + 3 + 2 + 2); // 1k; 2k x3; 4k and 8k confirmed above the failure
    CHECK(j["probes"][2]["attempt"] == 2);
    CHECK(j["probes"][3]["attempt"] == 3);
    CHECK(j["probes"][0]["duration_s"] == 1.0);
    CHECK(j["probes"][0]["samples"] == 1000);
    REQUIRE(j["non_monotonic"].size() == 6);
    CHECK(j["non_monotonic"][0] ==
          nlohmann::json{{"pass_index", 2}, {"pass_offered", 2000.0}, {"fail_index", 1}, {"fail_offered", 2000.0}});
    CHECK(j["non_monotonic"][5]["pass_offered"] == 8000.0);
    const std::string table = summary_table(all);
    CHECK(table.find("SEARCH knee: not monotonic: 6 probe(s) passed at or above a failed rate (widest: 8000/s "
                     "passed, 2000/s failed)\nSEARCH knee: peak >= 8000/s: ") != std::string::npos);
}
