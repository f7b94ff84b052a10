#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/results/compare.hpp"

using namespace kp::runner;
using nlohmann::json;

namespace {

json metric_json(double value, double lo, double hi) {
    return {{"value", value}, {"ci95", {lo, hi}}};
}

json instance(const std::string& id, json metrics, const std::string& status = "ok") {
    return {{"type", "instance"}, {"id", id}, {"status", status}, {"aggregate", {{"metrics", metrics}}}};
}

json doc(std::vector<json> instances) {
    return {{"instances", instances}};
}

const metric_delta* row(const comparison_report& r, const std::string& id, metric m) {
    for (const auto& d : r.rows)
        if (d.instance == id && d.which == m) return &d;
    return nullptr;
}

} // namespace

TEST_CASE("compare: a throughput drop beyond tolerance and outside the CIs is a regression") {
    auto base = doc({instance("bulk", {{"throughput_bps", metric_json(10e9, 9.8e9, 10.2e9)}})});
    auto fresh = doc({instance("bulk", {{"throughput_bps", metric_json(5e7, 4.9e7, 5.1e7)}})});
    auto r = compare_results(base, fresh, {});
    const auto* d = row(r, "bulk", metric::throughput_bps);
    REQUIRE(d);
    CHECK(d->outcome == verdict::regression);
    CHECK(r.regressed());
    CHECK(format_comparison(r).find("REGRESSION") != std::string::npos);
}

TEST_CASE("compare: a drop beyond tolerance but inside overlapping CIs is noise, not a regression") {
    auto base = doc({instance("bulk", {{"throughput_bps", metric_json(10e9, 7e9, 13e9)}})});
    auto fresh = doc({instance("bulk", {{"throughput_bps", metric_json(8e9, 6e9, 10e9)}})});
    auto r = compare_results(base, fresh, {});
    CHECK(row(r, "bulk", metric::throughput_bps)->outcome == verdict::noise);
    CHECK_FALSE(r.regressed());
}

TEST_CASE("compare: a change within tolerance is fine even with tight CIs") {
    auto base = doc({instance("rpc", {{"latency_p99", metric_json(100, 99, 101)}})});
    auto fresh = doc({instance("rpc", {{"latency_p99", metric_json(110, 109, 111)}})});
    auto r = compare_results(base, fresh, {});
    CHECK(row(r, "rpc", metric::latency_p99)->outcome == verdict::same);
    // Tightened tolerance: +10% latency is now a regression (lower is better).
    auto t = parse_tolerances({"latency_p99=5%"});
    REQUIRE(t);
    auto r2 = compare_results(base, fresh, *t);
    CHECK(row(r2, "rpc", metric::latency_p99)->outcome == verdict::regression);
    // And a latency drop is an improvement, never a regression.
    auto r3 = compare_results(fresh, base, *t);
    CHECK(row(r3, "rpc", metric::latency_p99)->outcome == verdict::improvement);
    CHECK_FALSE(r3.regressed());
}

TEST_CASE("compare: rr throughput follows transactions/s, so only transactions/s is gated by default") {
    // 1000 B responses: throughput_bps is transactions_per_s x 8000, the same drop twice.
    auto rr = [](double tps) {
        json i = instance("rpc", {{"transactions_per_s", metric_json(tps, tps * 0.99, tps * 1.01)},
                                  {"throughput_bps", metric_json(tps * 8000, tps * 7920, tps * 8080)}});
        i["traffic"] = "tcp_rr";
        return doc({i});
    };
    auto r = compare_results(rr(10000), rr(5000), {});
    REQUIRE(row(r, "rpc", metric::transactions_per_s));
    CHECK(row(r, "rpc", metric::transactions_per_s)->outcome == verdict::regression);
    CHECK_FALSE(row(r, "rpc", metric::throughput_bps));
    CHECK(format_comparison(r).ends_with("compare: 1 regression\n"));
    // Asked for explicitly, it is gated again.
    auto t = parse_tolerances({"throughput_bps=10%"});
    REQUIRE(t);
    auto r2 = compare_results(rr(10000), rr(5000), *t);
    REQUIRE(row(r2, "rpc", metric::throughput_bps));
    CHECK(row(r2, "rpc", metric::throughput_bps)->outcome == verdict::regression);
    CHECK(format_comparison(r2).ends_with("compare: 2 regressions\n"));
    // A stream's throughput is its headline: gated by default.
    json bulk = instance("bulk", {{"throughput_bps", metric_json(10e9, 9.9e9, 10.1e9)}});
    bulk["traffic"] = "tcp_stream";
    json slow = bulk;
    slow["aggregate"]["metrics"]["throughput_bps"] = metric_json(5e9, 4.9e9, 5.1e9);
    CHECK(row(compare_results(doc({bulk}), doc({slow}), {}), "bulk", metric::throughput_bps)->outcome ==
          verdict::regression);
}

TEST_CASE("compare: instances missing on either side and failed instances are reported") {
    auto base = doc({instance("a", {}), instance("b", {}), instance("c", {})});
    auto fresh = doc({instance("b", {}), instance("c", {}, "failed"), instance("d", {})});
    auto r = compare_results(base, fresh, {});
    CHECK(r.missing_in_fresh == std::vector<std::string>{"a"});
    CHECK(r.missing_in_base == std::vector<std::string>{"d"});
    CHECK(r.not_comparable == std::vector<std::string>{"c: ok in BASE, failed in NEW"});
    auto text = format_comparison(r);
    CHECK(text.find("missing in NEW: a\n") != std::string::npos);
    CHECK(text.find("missing in BASE: d\n") != std::string::npos);
    CHECK_FALSE(r.regressed());
}

TEST_CASE("compare: the table prints base, new and the signed delta in the metric's unit") {
    auto with_unit = [](double v, const char* unit) {
        return json{{"value", v}, {"unit", unit}, {"ci95", nullptr}};
    };
    auto base = doc({instance("rpc", {{"latency_p99", with_unit(52'100, "us")},
                                      {"transactions_per_s", with_unit(10'400, "1/s")},
                                      {"client_service_demand", with_unit(12.34, "us/transaction")}})});
    auto fresh = doc({instance("rpc", {{"latency_p99", with_unit(49'900, "us")},
                                       {"transactions_per_s", with_unit(9'999.6, "1/s")},
                                       {"client_service_demand", with_unit(13.5, "us/transaction")}})});
    auto t = parse_tolerances({"client_service_demand=5%"});
    REQUIRE(t);
    const std::string text = format_comparison(compare_results(base, fresh, *t));
    INFO(text);
    CHECK(text.find("rpc       transactions_per_s    10.4k tx/s    10.0k tx/s     -400 tx/s     -3.8%    10% "
                    " ok\n") != std::string::npos);
    CHECK(text.find("rpc       latency_p99              52.1 ms       49.9 ms      -2.20 ms     -4.2%    25% "
                    " ok\n") != std::string::npos);
    CHECK(text.find(
              "rpc       client_service_demand 12.3 us/transaction 13.5 us/transaction +1.16 us/transaction "
              "    +9.4%     5%  REGRESSION\n") != std::string::npos);
}

TEST_CASE("compare: tolerances parse and reject nonsense verbatim") {
    auto t = parse_tolerances({"throughput_bps=5%", "transactions_per_s=20%", "latency_p99=off"});
    REQUIRE(t);
    CHECK(*t->at(metric::throughput_bps) == doctest::Approx(0.05));
    CHECK(*t->at(metric::transactions_per_s) == doctest::Approx(0.2));
    CHECK_FALSE(t->at(metric::latency_p99).has_value());
    auto bad = parse_tolerances({"thruput=5%"});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "--tolerance thruput=5%: unknown metric 'thruput'");
    CHECK(bad.error().kind == kp::error_kind::usage);
    CHECK(parse_tolerances({"latncy_p99=5%"}).error().message ==
          "--tolerance latncy_p99=5%: unknown metric 'latncy_p99', did you mean 'latency_p99'?");
    CHECK(parse_tolerances({"throughput_bps"}).error().message ==
          "--tolerance throughput_bps: expected METRIC=PERCENT, e.g. throughput_bps=5%, or METRIC=off");
    // A bare number used to mean a fraction: "5" was 500% and silently turned the gate off.
    CHECK(parse_tolerances({"throughput_bps=5"}).error().message ==
          "--tolerance throughput_bps=5: throughput_bps: expected a tolerance such as 5% or 0.5%, or off; got '5'");
    CHECK(parse_tolerances({"transactions_per_s=0.2"}).error().kind == kp::error_kind::usage);
}

TEST_CASE("compare: compare_main reads results.json and results.jsonl, exits 1 on a regression") {
    auto dir = std::filesystem::temp_directory_path() / ("kp-compare-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto base = doc({instance("bulk", {{"throughput_bps", metric_json(10e9, 9.8e9, 10.2e9)}})});
    std::ofstream(dir / "base.json") << base.dump();
    // A jsonl with a torn last line, as a killed run leaves it.
    std::ofstream(dir / "new.jsonl")
        << json{{"type", "run"}, {"plan", {{"name", "p"}}}}.dump() << "\n"
        << instance("bulk", {{"throughput_bps", metric_json(1e9, 0.9e9, 1.1e9)}}).dump()
        << "\n{\"type\":\"inst";
    CHECK(compare_main({(dir / "base.json").string()}, (dir / "new.jsonl").string(), {}) == 1);
    // The header's figures come along (the report of a killed run shows its plan), as running.
    auto loaded = load_results((dir / "new.jsonl").string());
    REQUIRE(loaded.has_value());
    CHECK((*loaded)["plan"]["name"] == "p");
    CHECK((*loaded)["status"] == "running");
    CHECK((*loaded)["instances"].size() == 1);
    CHECK(compare_main({(dir / "base.json").string()}, (dir / "base.json").string(), {}) == 0);
    CHECK(compare_main({(dir / "base.json").string()}, (dir / "nope.json").string(), {}) == 2);
    CHECK(compare_main({(dir / "base.json").string()}, (dir / "base.json").string(), {"x=1%"}) == 2);
    std::filesystem::remove_all(dir);
}

TEST_CASE("compare: a tolerance must be a non-negative number") {
    CHECK(parse_tolerances({"throughput_bps=-5%"}).error().message ==
          "--tolerance throughput_bps=-5%: throughput_bps: expected a tolerance such as 5% or 0.5%, or off; got "
          "'-5%'");
    CHECK_FALSE(parse_tolerances({"throughput_bps=5x%"}));
}

TEST_CASE("compare: a results path that is a FIFO is refused at once, not read for ever") {
    auto dir = std::filesystem::temp_directory_path() / ("kp-fifo-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto fifo = dir / "results.json";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto r = load_results(fifo.string());
    REQUIRE_FALSE(r);
    CHECK(r.error().message == fifo.string() + ": not a regular file (a results.json, a results.jsonl or a "
                                               "results directory)");
    CHECK_FALSE(load_results(dir.string())); // the directory's results.json is that FIFO
    std::filesystem::remove_all(dir);
}
