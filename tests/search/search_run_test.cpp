// Peak search end to end: the built kperf-plan runs `search:` plans. On loopback the reports
// carry every probe and the peak; against a server in a network namespace (real sshd, agent
// deployed over SSH) whose veth is shaped with tc tbf, the knee lies below the shaping rate and
// moves with it.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "netns_fixture.hpp"
#include "skip.hpp"

using kp::test::netns_hosts;
using kp::test::run_shell;
using nlohmann::json;

namespace {

std::string binary() {
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set (run through meson test)");
    return bin;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A fresh directory under /tmp, removed at the end of the test.
struct temp_dir {
    std::string path;
    temp_dir() {
        std::string t = (std::filesystem::temp_directory_path() / "kp-search-XXXXXX").string();
        REQUIRE(::mkdtemp(t.data()) != nullptr);
        path = t;
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
};

struct run_output {
    int status = -1;
    std::string text; ///< stdout and stderr
    json results;
};

/// Runs `kperf-plan run -o DIR/out EXTRA PLAN` and loads results.json.
run_output run_plan(const std::string& dir, const std::string& plan_text, const std::string& extra = "") {
    std::filesystem::remove_all(dir + "/out"); // a run never reuses an earlier run's directory
    std::ofstream(dir + "/plan.yaml") << plan_text;
    run_output r;
    r.text =
        run_shell(fmt::format("{} run -o {}/out {} {}/plan.yaml 2>&1", binary(), dir, extra, dir), &r.status);
    std::ifstream in(dir + "/out/results.json");
    if (in) r.results = json::parse(in, nullptr, false);
    return r;
}

double wire_bits(double datagrams_per_s, int payload) {
    return datagrams_per_s * (payload + 8 + 20 + 14) * 8; // UDP, IPv4 and Ethernet headers: what tbf counts
}

/// A tbf qdisc on a link, removed in the destructor (also when the test fails).
struct shaped_link {
    std::string ns, dev;
    shaped_link(std::string n, std::string d) : ns(std::move(n)), dev(std::move(d)) {}
    void set(const std::string& rate) {
        int rc = 0;
        // limit: a queue of about 75 datagrams absorbs the bursts a paced sender makes after a
        // short scheduling stall (a 25-datagram queue dropped some even at a quarter of the rate
        // on a busy machine), and is still full within the plan's 1.5 s warm-up at 2% above the
        // shaping rate, so such a probe loses datagrams in its window. A deeper queue would
        // hide an overload from a short probe.
        auto out =
            run_shell(fmt::format("ip netns exec {} tc qdisc replace dev {} root tbf rate {} burst 32kb "
                                  "limit 96kb 2>&1",
                                  ns, dev, rate),
                      &rc);
        REQUIRE_MESSAGE(rc == 0, "tc failed: " << out);
    }
    ~shaped_link() {
        run_shell(fmt::format("ip netns exec {} tc qdisc del dev {} root 2>/dev/null", ns, dev));
    }
};

} // namespace

TEST_CASE("search run: loopback reports every probe, the peak in JSON, JSONL, CSV and the summary") {
    temp_dir d;
    // A generous SLO over a small range: the SLO holds at the top, in three probes.
    auto r = run_plan(d.path, R"(version: 1
hosts: {me: {}}
defaults: {warmup: 200ms}
scenarios:
  - name: knee
    traffic: tcp_rr
    nodelay: true
    flows: 2
    in_flight: 16   # open loop: up to 16 requests out per flow ride out a busy machine's hiccups
    search: {rate: [100/s, 400/s], slo: {latency_p90: "< 500ms"}, precision: 5%, probe_duration: 500ms}
    expect: {transactions_per_s: "> 380"}   # checked on the run at the peak
  - name: never
    traffic: udp_rr
    search: {rate: [200/s, 1k/s], slo: {latency_p50: "< 1ns"}, probe_duration: 300ms}
)");
    INFO(r.text);
    CHECK(r.status == 1); // `never` meets its SLO at no rate: a failed expectation
    REQUIRE(r.results.is_object());
    const json& inst = r.results["instances"][0];
    REQUIRE(inst.contains("search"));
    const json& s = inst["search"];
    CHECK(s["outcome"] == "top_of_range");
    CHECK(s["peak"] == 400.0);
    CHECK(s["bracket"][0] == 400.0);
    CHECK(s["bracket"][1].is_null());
    REQUIRE(s["probes"].size() == 3);
    // p90 needs 10/(1 - 0.9) = 100 samples: the 100/s probe is stretched from 500ms to 1 s.
    CHECK(s["samples_needed"] == 100);
    CHECK(s["non_monotonic"] == json::array());
    double offered[] = {100, 200, 400}, duration[] = {1.0, 0.5, 0.5};
    for (std::size_t i = 0; i < 3; ++i) {
        const json& p = s["probes"][i];
        CHECK(p["offered"] == offered[i]);
        CHECK(p["phase"] == "ramp");
        CHECK(p["attempt"] == 1); // passes below every failure are not confirmed
        CHECK(p["duration_s"] == duration[i]);
        CHECK(p["samples"].get<double>() >= 0.9 * offered[i] * duration[i]);
        CHECK(p["passed"] == true);
        CHECK(p["achieved"].get<double>() >= 0.98 * offered[i]);
        for (auto m : {"latency_p50", "latency_p90", "latency_p99", "latency_p999"})
            CHECK(p["metrics"].contains(m));
        CHECK(p["slo"][0]["metric"] == "latency_p90");
    }
    // The instance's one repeat is the peak's run.
    REQUIRE(inst["repeats"].size() == 1);
    CHECK(inst["client_job"]["rate"] == 0.0);
    REQUIRE(inst["checks"].size() == 1);
    CHECK(inst["checks"][0]["passed"] == true);
    CHECK(inst["checks"][0]["measured"].get<double>() == doctest::Approx(400).epsilon(0.02));
    CHECK(r.text.find(
              "SEARCH knee: peak >= 400/s: the SLO holds at the top of the range (400/s); 3 probe(s)") !=
          std::string::npos);

    // JSONL: the instance line carries the search too.
    std::istringstream lines(read_file(d.path + "/out/results.jsonl"));
    std::string line;
    json knee_line;
    while (std::getline(lines, line))
        if (auto j = json::parse(line, nullptr, false); j.is_object() && j.value("id", "") == "knee")
            knee_line = j;
    REQUIRE(knee_line.is_object());
    CHECK(knee_line["search"]["peak"] == 400.0);
    // CSV: the peak columns come last.
    std::istringstream csv(read_file(d.path + "/out/results.csv"));
    std::string header, row;
    std::getline(csv, header);
    std::getline(csv, row);
    CHECK(header.find(",peak_rate,peak_bracket_low,peak_bracket_high") != std::string::npos);
    CHECK(row.find(",400,400,") != std::string::npos);

    // Not met even at the low end: the failure confirmed by a second probe, no peak, a failed check.
    const json& never = r.results["instances"][1];
    CHECK(never["status"] == "expect_failed");
    CHECK(never["search"]["outcome"] == "below_range");
    CHECK(never["search"]["peak"].is_null());
    CHECK(never["search"]["bracket"][1] == 200.0);
    // A failure whose sends left late (send_lateness_p99 > 20us, which a 200/s client on a busy VM
    // can show) is not counted and the rate is probed again, once per rate (the first probe or
    // the confirming one): 2 or 3 probes, 2 counted.
    const json& probes = never["search"]["probes"];
    REQUIRE((probes.size() == 2 || probes.size() == 3));
    std::size_t counted = 0;
    for (std::size_t i = 0; i < probes.size(); ++i) {
        const json& p = probes[i];
        CHECK(p["offered"] == 200.0);
        CHECK(p["passed"] == false);
        CHECK(p["attempt"] == i + 1);
        CHECK(p["why"].get<std::string>().starts_with("latency_p50 < 1ns: measured"));
        if (p["counted"] == true) {
            ++counted;
        } else {
            CHECK(i + 1 < probes.size()); // set aside, so probed again after it
            CHECK(p["late_sends"] == true);
            CHECK(p["metrics"]["send_lateness_p99"].get<double>() > 20.0);
            CHECK(p["why"].get<std::string>().find("; not counted: the client's sends left late") !=
                  std::string::npos);
        }
    }
    CHECK(counted == 2);
    REQUIRE(never["checks"].size() == 1);
    CHECK(never["checks"][0]["metric"] == "search_peak");
    CHECK(never["checks"][0]["passed"] == false);
    CHECK(r.text.find(fmt::format("SEARCH never: no peak: the SLO is not met even at the low end (200/s); "
                                  "{} probe(s)",
                                  probes.size())) != std::string::npos);

    // Every report validates against schemas/results.schema.json.
    int rc = 0;
    auto out = run_shell(
        fmt::format("{} {} {} {}/out 2>&1", KP_SYS_PYTHON, KP_RESULTS_CHECK, KP_RESULTS_SCHEMA, d.path), &rc);
    CHECK_MESSAGE(rc == 0, out);
}

TEST_CASE("search run: dry run shows the search of plans/knee.yaml and contacts nothing") {
    const char* root = std::getenv("KPERF_SOURCE_ROOT");
    REQUIRE(root != nullptr);
    int rc = 0;
    auto out = run_shell(fmt::format("{} run --dry-run {}/plans/knee.yaml 2>&1", binary(), root), &rc);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("    rate: search\n") != std::string::npos);
    CHECK(out.find("    search: rate 1k/s .. 2M/s (1000 .. 2.00M messages/s), precision 5%, at most 24 "
                   "probes of 1s + "
                   "300ms warm-up\n    slo: latency_p99 < 1ms\n") != std::string::npos);
    CHECK(out.find("    slo: loss_ratio < 0.1%\n") != std::string::npos);
}

TEST_CASE("search run: a tbf-shaped veth puts the knee below the shaping rate, and it moves with it") {
    std::string why = netns_hosts::unavailable_reason();
    int rc = 0;
    run_shell("command -v tc >/dev/null 2>&1", &rc);
    if (why.empty() && rc != 0) why = "no tc (apt-get install iproute2)";
    if (!why.empty()) {
        kp::test::skip("the shaped search needs network namespaces, sshd and tc: " + why);
        return;
    }
    netns_hosts f(1);
    const auto& b = f.hosts()[0];
    // The bridge namespace of the fixture is kp-<B>-br; its port towards host 1 is p1. Shaping its
    // egress shapes everything sent to the server, i.e. the datagrams of a forward udp_stream.
    std::string byte = b.ns.substr(3, b.ns.rfind('-') - 3);
    shaped_link link("kp-" + byte + "-br", "p1");
    temp_dir d;
    const int payload = 1200;
    auto plan = fmt::format(R"(version: 1
hosts:
  a: {{}}
  b: {{ssh: root@{0}, identity: {1}, address: {0}}}
defaults: {{client: a, server: b, warmup: 1500ms}}
scenarios:
  - name: udp-knee
    traffic: udp_stream
    write_size: {2}
    rcvbuf: 4MiB
    search: {{rate: [500/s, 40k/s], slo: {{loss: "< 0.1%"}}, precision: 5%, probe_duration: 1s, max_probes: 24}}
)",
                            b.address, f.key(), payload);
    auto knee = [&](const std::string& shaping) {
        link.set(shaping);
        auto r = run_plan(d.path, plan, "--known-hosts " + f.known_hosts());
        INFO(r.text);
        REQUIRE(r.results.is_object());
        const json& s = r.results["instances"][0]["search"];
        REQUIRE(s["outcome"] == "bracketed");
        double peak = s["peak"].get<double>(), above = s["bracket"][1].get<double>();
        CHECK((above - peak) / peak <= 0.05);
        // Each probe's verdict is what the SLO and the achieved rate say.
        for (const auto& p : s["probes"]) {
            double loss = p["metrics"].value("loss_ratio", 1.0);
            CHECK(p["passed"] ==
                  (loss < 0.001 && p["achieved"].get<double>() >= 0.98 * p["offered"].get<double>()));
        }
        MESSAGE(fmt::format(
            "tbf {}: knee {:.0f} datagrams/s = {:.1f} Mbit/s on the wire, bracket [{:.0f}, {:.0f}], "
            "{} probes",
            shaping, peak, wire_bits(peak, payload) / 1e6, peak, above, s["probes"].size()));
        return peak;
    };
    double k20 = knee("20mbit");
    double k60 = knee("60mbit");
    // Below the shaping rate (a 2% allowance for tbf's burst), and not far below it. On a quiet
    // machine the knees are 2000/s (99% of 20 Mbit/s) and 6000/s (99% of 60 Mbit/s); a busy one
    // stalls the paced sender now and then, and the bursts after a stall can fail a probe below
    // the shaping rate, so the lower bounds are loose. Stalls only ever lower a knee.
    CHECK(wire_bits(k20, payload) <= 20e6 * 1.02);
    CHECK(wire_bits(k20, payload) >= 20e6 * 0.5);
    CHECK(wire_bits(k60, payload) <= 60e6 * 1.02);
    CHECK(wire_bits(k60, payload) >= 60e6 * 0.5);
    // Three times the shaping rate moves the knee up with it: the search measures the link.
    CHECK(k60 / k20 >= 1.8);
}
