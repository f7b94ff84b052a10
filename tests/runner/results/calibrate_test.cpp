#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "runner/results/calibrate.hpp"
#include "runner/results/compare.hpp"
#include "runner/results/stats.hpp"

using namespace kp::runner;
using nlohmann::json;

namespace {

json figure(double v, const char* unit = "bit/s") {
    return {{"value", v}, {"unit", unit}, {"ci95", nullptr}};
}

/// A run of one tcp_stream instance "bulk" and one tcp_rr "rpc".
json run_doc(double bps, double tps, double p99, const std::string& kernel = "6.1.0") {
    json bulk = {{"type", "instance"},
                 {"id", "bulk"},
                 {"traffic", "tcp_stream"},
                 {"status", "ok"},
                 {"aggregate", {{"metrics", {{"throughput_bps", figure(bps)}}}}}};
    json rpc = {{"type", "instance"},
                {"id", "rpc"},
                {"traffic", "tcp_rr"},
                {"status", "ok"},
                {"aggregate",
                 {{"metrics", {{"transactions_per_s", figure(tps, "1/s")}, {"latency_p99", figure(p99, "us")}}}}}};
    json env = {{"hostname", "ci1"}, {"kernel", kernel}, {"cpu_model", "AMD EPYC"}, {"cpu_count", 2},
                {"boot_id", "x"}};
    return {{"instances", {bulk, rpc}}, {"hosts", {{"srv", {{"environment", env}}}}}};
}

const metric_delta* row(const comparison_report& r, const std::string& id, metric m) {
    for (const auto& d : r.rows)
        if (d.instance == id && d.which == m) return &d;
    return nullptr;
}

} // namespace

TEST_CASE("calibrate: the noise floor is a 99% prediction interval on the log scale") {
    // ln values of 100, 102, 98, 101, 99 relative to the median 100.
    std::vector<double> v = {100, 102, 98, 101, 99};
    std::vector<double> logs;
    for (double x : v)
        logs.push_back(std::log(x / 100));
    const double sd = summarize(logs).stddev;
    const double want = std::expm1(student_t_995(4) * sd * std::sqrt(1 + 1.0 / 5));
    CHECK(noise_floor(v) == doctest::Approx(want));
    CHECK(noise_floor(v) == doctest::Approx(0.0799).epsilon(0.01)); // 4.604 * 1.58% * 1.095
    // Never below the largest deviation seen, whatever the spread.
    CHECK(noise_floor(std::vector<double>{100, 100, 100, 100, 150}) >= 0.5);
    CHECK(noise_floor(std::vector<double>{5}) == 0);
    // Zeros (no retransmits) fall back to the linear scale and do not crash.
    CHECK(noise_floor(std::vector<double>{0, 0, 0}) == 0);
    CHECK(std::isfinite(noise_floor(std::vector<double>{0, 1, 2})));
}

TEST_CASE("calibrate: per instance and metric, median and floor; noisy metrics are marked") {
    std::vector<json> runs = {run_doc(10e9, 10000, 50), run_doc(10.1e9, 14000, 30), run_doc(9.9e9, 6000, 90),
                              run_doc(10e9, 11000, 200), run_doc(10.05e9, 9000, 40)};
    calibration c = calibrate(runs);
    CHECK(c.runs == 5);
    const auto& bulk = c.instances.at("bulk").at(metric::throughput_bps);
    CHECK(bulk.median == doctest::Approx(10e9));
    CHECK(bulk.floor < 0.05);
    CHECK_FALSE(bulk.too_noisy);
    const auto& tps = c.instances.at("rpc").at(metric::transactions_per_s);
    CHECK(tps.median == 10000);
    CHECK(tps.too_noisy); // +-40% between runs: far above the 20% limit
    CHECK(c.instances.at("rpc").at(metric::latency_p99).too_noisy);
    CHECK(c.hosts["srv"]["kernel"] == "6.1.0");
    CHECK_FALSE(c.hosts["srv"].contains("boot_id"));
    // Round trip through baseline.json.
    auto back = calibration_from_json(calibration_json(c));
    REQUIRE(back);
    CHECK(back->instances.at("bulk").at(metric::throughput_bps).floor == doctest::Approx(bulk.floor));
    CHECK(back->instances.at("rpc").at(metric::transactions_per_s).too_noisy);
    const std::string table = format_calibration(c);
    INFO(table);
    CHECK(table.find("too noisy (limit 20%)") != std::string::npos);
    CHECK(table.find("baseline: 5 runs; 2 metric(s) too noisy to gate on this machine\n") != std::string::npos);
}

TEST_CASE("compare: against a calibration, gate beyond tolerance and floor; noisy metrics are shown, not gated") {
    std::vector<json> runs = {run_doc(10e9, 10000, 50), run_doc(10.1e9, 14000, 30), run_doc(9.9e9, 6000, 90),
                              run_doc(10e9, 11000, 200), run_doc(10.05e9, 9000, 40)};
    calibration c = calibrate(runs);
    // A 10% drop of a quiet stream is caught: the calibrated default is 5% and the floor ~2%.
    auto r = compare_results(runs[0], run_doc(9e9, 3000, 900), {}, &c);
    CHECK(r.calibrated_runs == 5);
    CHECK(row(r, "bulk", metric::throughput_bps)->outcome == verdict::regression);
    CHECK(row(r, "bulk", metric::throughput_bps)->tolerance == doctest::Approx(0.05));
    CHECK(row(r, "bulk", metric::throughput_bps)->base == doctest::Approx(10e9));
    // transactions fell 70%, but they swing 40% between runs here: not gated by default...
    CHECK(row(r, "rpc", metric::transactions_per_s)->outcome == verdict::too_noisy);
    CHECK(r.regressed());
    // ...unless a tolerance asks, and then only beyond the floor as well.
    auto t = parse_tolerances({"transactions_per_s=5%"});
    REQUIRE(t);
    auto r2 = compare_results(runs[0], run_doc(10e9, 8000, 50), *t, &c);
    CHECK(row(r2, "rpc", metric::transactions_per_s)->outcome == verdict::noise); // -20%, floor above
    auto r3 = compare_results(runs[0], run_doc(10e9, 1000, 50), *t, &c);
    CHECK(row(r3, "rpc", metric::transactions_per_s)->outcome == verdict::regression);
    // A 3% wobble of the stream is no regression.
    CHECK_FALSE(compare_results(runs[0], run_doc(9.7e9, 10000, 50), {}, &c).regressed());
    // Another kernel: compare says so.
    auto moved = compare_results(runs[0], run_doc(10e9, 10000, 50, "6.18.4"), {}, &c);
    REQUIRE(moved.host_changes.size() == 1);
    CHECK(moved.host_changes[0] == "host srv: kernel: 6.1.0 (baseline) -> 6.18.4");
    CHECK(format_comparison(moved).find("warning: NEW ran elsewhere than the baseline: host srv: kernel: 6.1.0 "
                                        "(baseline) -> 6.18.4\n") != std::string::npos);
}

TEST_CASE("compare: the plan's gate: sits under --tolerance; an explicit tolerance gates a metric") {
    json base = run_doc(10e9, 10000, 50), fresh = run_doc(9.3e9, 10000, 50);
    // The default (10%) lets a 7% drop pass; the instance's gate of 5% catches it.
    CHECK_FALSE(compare_results(base, fresh, {}).regressed());
    fresh["instances"][0]["gate"] = {{"throughput_bps", "5%"}};
    auto r = compare_results(base, fresh, {});
    CHECK(row(r, "bulk", metric::throughput_bps)->outcome == verdict::regression);
    CHECK(row(r, "bulk", metric::throughput_bps)->tolerance == doctest::Approx(0.05));
    // --tolerance is above the plan.
    CHECK_FALSE(compare_results(base, fresh, *parse_tolerances({"throughput_bps=10%"})).regressed());
    // off: no row at all.
    fresh["instances"][0]["gate"] = {{"throughput_bps", "off"}};
    CHECK(row(compare_results(base, fresh, {}), "bulk", metric::throughput_bps) == nullptr);
    // CPU seconds have no direction and no default gate; an explicit tolerance gates them (less is better).
    json a = base, b = base;
    a["instances"][0]["aggregate"]["metrics"]["client_cpu_s"] = figure(2.0, "s");
    b["instances"][0]["aggregate"]["metrics"]["client_cpu_s"] = figure(3.0, "s");
    CHECK(row(compare_results(a, b, {}), "bulk", metric::client_cpu_s) == nullptr);
    auto cpu = compare_results(a, b, *parse_tolerances({"client_cpu_s=5%"}));
    REQUIRE(row(cpu, "bulk", metric::client_cpu_s));
    CHECK(row(cpu, "bulk", metric::client_cpu_s)->outcome == verdict::regression);
}

TEST_CASE("compare: one effect gives one row: rr throughput_bps is not gated beside transactions_per_s") {
    json base = run_doc(10e9, 10000, 50), fresh = run_doc(10e9, 5000, 50);
    base["instances"][1]["aggregate"]["metrics"]["throughput_bps"] = figure(5.12e6);
    fresh["instances"][1]["aggregate"]["metrics"]["throughput_bps"] = figure(2.56e6);
    auto r = compare_results(base, fresh, {});
    CHECK(row(r, "rpc", metric::transactions_per_s)->outcome == verdict::regression);
    CHECK(row(r, "rpc", metric::throughput_bps) == nullptr);
}

TEST_CASE("compare: nothing in common is an error naming both sides") {
    json a = {{"instances", {{{"id", "x"}}, {{"id", "y"}}}}}, b = {{"instances", {{{"id", "z"}}}}};
    CHECK(nothing_matched(a, b) == "no instance is in both: BASE has x, y; NEW has z");
    CHECK_FALSE(nothing_matched(a, a).has_value());
    auto dir = std::filesystem::temp_directory_path() / ("kp-calib-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "a.json") << a.dump();
    std::ofstream(dir / "b.json") << b.dump();
    CHECK(compare_main({(dir / "a.json").string()}, (dir / "b.json").string(), {}) == 2);
    // Several BASE runs calibrate; two are too few.
    for (int i = 0; i < 3; ++i)
        std::ofstream(dir / ("r" + std::to_string(i) + ".json")) << run_doc(10e9 + i * 1e7, 10000, 50).dump();
    std::ofstream(dir / "slow.json") << run_doc(8e9, 10000, 50).dump();
    CHECK(compare_main({(dir / "r0.json").string(), (dir / "r1.json").string()}, (dir / "slow.json").string(), {}) ==
          2);
    CHECK(compare_main({(dir / "r0.json").string(), (dir / "r1.json").string(), (dir / "r2.json").string()},
                       (dir / "slow.json").string(), {}) == 1);
    CHECK(compare_main({(dir / "r0.json").string(), (dir / "r1.json").string(), (dir / "r2.json").string()},
                       (dir / "r1.json").string(), {}) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("compare: confirmation keeps only regressions that persist, per instance and metric") {
    json base = run_doc(10e9, 10000, 50);
    comparison_report first = compare_results(base, run_doc(5e9, 5000, 50), {});
    REQUIRE(first.regressed_instances() == std::vector<std::string>{"bulk", "rpc"});
    // The rerun: the stream is still slow, the rr is back.
    confirmation_attempt a;
    a.attempt = 1;
    confirm_with(first, compare_results(base, run_doc(5e9, 10000, 50), {}), a);
    CHECK(row(first, "bulk", metric::throughput_bps)->outcome == verdict::regression);
    CHECK(row(first, "rpc", metric::transactions_per_s)->outcome == verdict::unconfirmed);
    REQUIRE(first.confirmations.size() == 1);
    CHECK(first.confirmations[0].ids == std::vector<std::string>{"bulk", "rpc"});
    CHECK(first.confirmations[0].persists == std::vector<std::string>{"bulk"});
    CHECK(first.regressed());
    // A second rerun where the stream recovers: nothing persists, the exit code is 0.
    a.attempt = 2;
    confirm_with(first, compare_results(base, base, {}), a);
    CHECK_FALSE(first.regressed());
    CHECK(first.confirmations[1].ids == std::vector<std::string>{"bulk"});
    const std::string text = format_comparison(first);
    CHECK(text.find("confirmation 1: reran bulk, rpc; still regressed: bulk\n") != std::string::npos);
    CHECK(text.find("confirmation 2: reran bulk; still regressed: none\n") != std::string::npos);
    CHECK(comparison_json(first)["confirmations"].size() == 2);
}

TEST_CASE("stats: a latency CI is taken on the log scale and never goes below zero") {
    // Five heavy-tailed p99s: a plain t interval runs below zero.
    std::vector<double> p99 = {40, 45, 50, 60, 700};
    CHECK(summarize(p99).ci_low == 0); // clamped
    auto l = summarize_log(p99);
    CHECK(l.ci_low > 0);
    CHECK(l.ci_low < 60);
    CHECK(l.ci_high > 100);
}
