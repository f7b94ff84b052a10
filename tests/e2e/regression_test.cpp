// End to end: the regression gate. A tcp_stream between two namespace hosts is the baseline; the
// same plan with the server's link shaped to 50 Mbit/s (tc tbf) must be called a regression by
// `run --baseline` and by `compare`, both exiting 1. Skips where namespaces are unavailable.
#include "e2e_util.hpp"

#include <fstream>

#include <fmt/format.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// A token bucket on the bridge port facing host i (its veth peer in the fixture's switch
/// namespace kp-<B>-br, port p<i+1>): everything sent to that host is shaped. Removed at scope
/// exit (the namespaces go with the fixture anyway).
class shaped_link {
  public:
    shaped_link(const netns_hosts& f, std::size_t i) {
        const std::string& ns = f.hosts().at(i).ns; // "kp-<B>-<i+1>"
        bridge_ns_ = ns.substr(0, ns.rfind('-')) + "-br";
        port_ = "p" + std::to_string(i + 1);
        int rc = -1;
        std::string out =
            run_shell(fmt::format("ip netns exec {} tc qdisc add dev {} root tbf rate 50mbit burst "
                                  "32kb latency 50ms 2>&1",
                                  bridge_ns_, port_),
                      &rc);
        REQUIRE_MESSAGE(rc == 0, "tc qdisc add: " << out);
        added_ = true;
    }
    ~shaped_link() {
        if (added_)
            run_shell(fmt::format("ip netns exec {} tc qdisc del dev {} root 2>&1", bridge_ns_, port_));
    }
    shaped_link(const shaped_link&) = delete;
    shaped_link& operator=(const shaped_link&) = delete;
    [[nodiscard]] std::string show() const {
        return run_shell(fmt::format("ip netns exec {} tc qdisc show dev {} 2>&1", bridge_ns_, port_));
    }

  private:
    std::string bridge_ns_, port_;
    bool added_ = false;
};

} // namespace

TEST_SUITE_BEGIN("e2e-regression");

TEST_CASE("e2e: a throughput drop from tc shaping is a REGRESSION for run --baseline and compare (exit 1)") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    const auto& a = f.hosts()[0].address;
    const auto& b = f.hosts()[1].address;
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-regression
hosts:
  a: {{ssh: "root@{}", identity: "{}", address: "{}"}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 5s}}
defaults: {{client: a, server: b, duration: 1s, warmup: 200ms, repeat: 3}}
scenarios:
  - name: bulk
    traffic: tcp_stream
)",
                                                 a, f.key(), a, b, f.key(), b));
    const std::string known = f.known_hosts();

    auto base =
        run_kperf({plan.string(), "-o", (s / "base").string(), "--known-hosts", known}, s / "base.log", 60s);
    INFO(base.log);
    REQUIRE(base.code == 0);
    auto base_doc = load_json(s / "base" / "results.json");
    const auto& base_tp = instance_of(base_doc, "bulk")["aggregate"]["metrics"]["throughput_bps"];
    REQUIRE(base_tp["ci95"].is_array()); // three repeats: the interval the gate needs
    // Shaping to 50 Mbit/s must be a large drop, or the test shows nothing.
    REQUIRE_MESSAGE(base_tp["value"].get<double>() > 500e6,
                    "unshaped throughput too low to show a regression");

    {
        shaped_link shaped(f, 1); // toward the server b: the stream's data direction
        INFO(shaped.show());
        std::string baseline = (s / "base" / "results.json").string();
        auto fresh = run_kperf({plan.string(), "-o", (s / "new").string(), "--known-hosts", known,
                                "--baseline", baseline, "--junit", (s / "junit.xml").string()},
                               s / "new.log", 60s);
        INFO(fresh.log);
        CHECK(fresh.code == 1);
        CHECK(std::regex_search(fresh.log, std::regex(R"(\nbulk +throughput_bps +.*REGRESSION\n)")));
        CHECK(schema_errors(s / "new") == "");
        auto doc = load_json(s / "new" / "results.json");
        CHECK(doc["exit_code"] == 1);
        const auto& bulk = instance_of(doc, "bulk");
        CHECK(bulk["status"] == "ok"); // no expect: failed; the regression alone fails the run
        CHECK(bulk["aggregate"]["metrics"]["throughput_bps"]["value"].get<double>() < 60e6);
        REQUIRE(doc["baseline"].is_object());
        CHECK(doc["baseline"]["regressed"] == true);
        bool found = false;
        for (const auto& row : doc["baseline"]["rows"])
            if (row["instance"] == "bulk" && row["metric"] == "throughput_bps") {
                found = true;
                CHECK(row["verdict"] == "REGRESSION");
                CHECK(row["change"].get<double>() < -0.5);
            }
        CHECK(found);
        bool junit_regression = false;
        for (const auto& c : junit_cases(s / "junit.xml"))
            junit_regression = junit_regression || (c.failure && contains(c.name, "throughput_bps"));
        CHECK(junit_regression);
    }

    auto cmp =
        run_kperf({"compare", (s / "base" / "results.json").string(), (s / "new" / "results.json").string()},
                  s / "compare.log", 20s);
    INFO(cmp.log);
    CHECK(cmp.code == 1);
    CHECK(std::regex_search(cmp.log, std::regex(R"((^|\n)bulk +throughput_bps +.*REGRESSION\n)")));
    // The baseline against itself is no regression.
    auto same = run_kperf({"compare", (s / "base").string(), (s / "base").string()}, s / "same.log", 20s);
    CHECK(same.code == 0);
}

TEST_CASE("e2e: a calibrated baseline gates the shaped link; --confirm reruns it and keeps every attempt") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    const auto& a = f.hosts()[0].address;
    const auto& b = f.hosts()[1].address;
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-calibrated
hosts:
  a: {{ssh: "root@{}", identity: "{}", address: "{}"}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 5s}}
defaults: {{client: a, server: b, duration: 600ms, warmup: 200ms}}
scenarios:
  - name: bulk
    traffic: tcp_stream
    gate: {{throughput_bps: 5%}}
)",
                                                 a, f.key(), a, b, f.key(), b));
    const std::string known = f.known_hosts();
    auto cal = run_kperf({"baseline", plan.string(), "--runs", "3", "-o", (s / "bl").string(), "--known-hosts",
                          known},
                         s / "bl.log", 90s);
    INFO(cal.log);
    REQUIRE(cal.code == 0);
    CHECK(contains(cal.log, "baseline: 3 runs; "));
    auto bl = load_json(s / "bl" / "baseline.json");
    CHECK(bl["type"] == "kperf-plan-baseline");
    CHECK(bl["runs"] == 3);
    REQUIRE(bl["instances"]["bulk"]["throughput_bps"]["values"].size() == 3);
    CHECK(bl["hosts"]["b"].contains("kernel"));
    // A second baseline into the same directory is refused.
    auto again = run_kperf({"baseline", plan.string(), "-o", (s / "bl").string()}, s / "again.log", 20s);
    CHECK(again.code == 2);
    {
        shaped_link shaped(f, 1);
        auto fresh = run_kperf({plan.string(), "-o", (s / "new").string(), "--known-hosts", known, "--baseline",
                                (s / "bl").string(), "--confirm", "2"},
                               s / "new.log", 90s);
        INFO(fresh.log);
        CHECK(fresh.code == 1);
        CHECK(contains(fresh.log, "baseline: calibrated on 3 runs"));
        CHECK(contains(fresh.log, "confirmation 1: reran bulk; still regressed: bulk\n"));
        CHECK(contains(fresh.log, "confirmation 2: reran bulk; still regressed: bulk\n"));
        CHECK(schema_errors(s / "new") == "");
        auto doc = load_json(s / "new" / "results.json");
        CHECK(doc["exit_code"] == 1);
        REQUIRE(doc["baseline"]["confirmations"].size() == 2);
        const auto& c = doc["baseline"]["confirmations"][1];
        CHECK(c["still_regressed"] == nlohmann::json::array({"bulk"}));
        REQUIRE(c["records"].size() == 1);
        CHECK(c["records"][0]["aggregate"]["metrics"]["throughput_bps"]["value"].get<double>() < 60e6);
        // The attempts are in results.jsonl too, as lines of their own (not instances).
        std::ifstream in(s / "new" / "results.jsonl");
        std::string line;
        int attempts = 0, instances = 0;
        while (std::getline(in, line)) {
            auto j = nlohmann::json::parse(line, nullptr, false);
            attempts += j.value("type", "") == "attempt";
            instances += j.value("type", "") == "instance";
        }
        CHECK(attempts == 2);
        CHECK(instances == 1);
    }
    // A plan the baseline knows nothing of: exit 2 before anything runs, naming both sides.
    auto other = s.write("other.yaml", "version: 1\nname: other\nhosts: {me: {}}\n"
                                       "scenarios:\n  - {name: x, traffic: tcp_rr, client: me, server: me}\n");
    auto none = run_kperf({other.string(), "-o", (s / "other").string(), "--baseline", (s / "bl").string()},
                          s / "other.log", 20s);
    INFO(none.log);
    CHECK(none.code == 2);
    CHECK(contains(none.log, "no instance is in both: BASE has bulk; NEW has x\n"));
}

TEST_SUITE_END();
