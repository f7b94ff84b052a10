// Proxy chains end to end: three hosts in network namespaces over SSH (tests/netns), the runner
// deploying itself to each, tcp_rr from a through the forwarder on p to b, and the same instance
// direct. Skips where namespaces or sshd are unavailable.
#include <algorithm>
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "netns_fixture.hpp"
#include "skip.hpp"

using kp::test::netns_hosts;
using kp::test::run_shell;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

bool skip_without_netns() {
    std::string why = netns_hosts::unavailable_reason();
    if (why.empty()) return false;
    kp::test::skip("proxy chain tests need root, network namespaces and sshd: " + why);
    return true;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/// A scratch directory, removed at the end even when the test fails.
struct scratch {
    fs::path dir;
    scratch() {
        std::string t = (fs::temp_directory_path() / "kp-proxy-XXXXXX").string();
        REQUIRE(mkdtemp(t.data()) != nullptr);
        dir = t;
    }
    ~scratch() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
};

/// Runs the runner (bounded by `timeout`), output to `dir`/log; returns the exit status.
int run_kperf(const std::string& args, const fs::path& dir) {
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
    int status = -1;
    run_shell(fmt::format("timeout -k 5 120 {} {} > {} 2>&1", bin, args, (dir / "log").string()), &status);
    return status;
}

} // namespace

TEST_CASE("proxy: tcp_rr through a proxy host over SSH reports per-hop CPU and added latency") {
    if (skip_without_netns()) return;
    netns_hosts f(3);
    scratch s;
    const auto& a = f.hosts().at(0).address;
    const auto& p = f.hosts().at(1).address;
    const auto& b = f.hosts().at(2).address;
    auto host = [&](const std::string& addr) {
        return fmt::format(R"({{ssh: "root@{}", identity: "{}", address: "{}"}})", addr, f.key(), addr);
    };
    std::ofstream(s.dir / "plan.yaml") << fmt::format(R"(version: 1
name: proxy-netns
hosts:
  a: {}
  p: {}
  b: {}
settings: {{connect_timeout: 5s}}
defaults: {{duration: 600ms, warmup: 200ms}}
scenarios:
  - name: rr
    traffic: tcp_rr
    client: a
    server: b
    flows: 2
    via: [p]
    compare_direct: true
    placement: {{via: rx}}
)",
                                                      host(a), host(p), host(b));
    int code = run_kperf(fmt::format("run {} -o {} --known-hosts {}", (s.dir / "plan.yaml").string(),
                                     (s.dir / "out").string(), f.known_hosts()),
                         s.dir);
    std::string log = slurp(s.dir / "log");
    INFO(log);
    REQUIRE(code == 0);
    CHECK(log.find("PROXY rr: hop p: cpu") != std::string::npos);
    CHECK(log.find("PROXY rr: added latency p50") != std::string::npos);

    // The reports hold hops and direct as schemas/results.schema.json describes them.
    if (const char* root = std::getenv("KPERF_SOURCE_ROOT")) {
        int st = -1;
        auto out = run_shell(
            fmt::format("/usr/bin/python3 {0}/tests/e2e/results_check.py {0}/schemas/results.schema.json "
                        "{1} 2>&1",
                        root, (s.dir / "out").string()),
            &st);
        CHECK_MESSAGE(st == 0, out);
    }
    json doc = json::parse(slurp(s.dir / "out" / "results.json"));
    REQUIRE(doc["instances"].size() == 1);
    const json& inst = doc["instances"][0];
    CHECK(inst["status"] == "ok");
    // The forwarder ran on p, relayed both flows and both directions, and was measured.
    REQUIRE(inst["hops"].size() == 1);
    const json& hop = inst["hops"][0];
    CHECK(hop["host"] == "p");
    CHECK(hop["role"] == "proxy");
    CHECK(hop["cpu_s"].get<double>() > 0);
    CHECK(hop["process_cpu_s"].get<double>() > 0);
    CHECK(hop["service_demand"].is_number());
    CHECK(hop["connections"] == 2);
    CHECK(hop["bytes_forward"].get<std::uint64_t>() > 0);
    CHECK(hop["bytes_backward"].get<std::uint64_t>() > 0);
    CHECK(hop["errors"] == 0);
    const json& rep = inst["repeats"][0];
    REQUIRE(rep["hops"].size() == 1);
    CHECK(rep["hops"][0]["relay"]["workers"].size() >= 1);
    CHECK(rep["clock_offset_ns"].contains("p"));
    // The direct run, and what the hop adds.
    REQUIRE(inst["direct"].is_object());
    CHECK(inst["direct"]["repeats"].size() == 1);
    CHECK_FALSE(inst["direct"]["repeats"][0].contains("hops"));
    CHECK(inst["direct"]["added_latency_p50_us"].is_number());
    CHECK(inst["direct"]["added_latency_p99_us"].is_number());
    CHECK(inst["direct"]["added_cpu_s"].is_number());
    double chain_p50 = inst["aggregate"]["metrics"]["latency_p50"]["value"].get<double>();
    double direct_p50 = inst["direct"]["aggregate"]["metrics"]["latency_p50"]["value"].get<double>();
    CHECK(inst["direct"]["added_latency_p50_us"].get<double>() == doctest::Approx(chain_p50 - direct_p50));
    // Through a veth hop and back, the chain's median is slower than the direct one.
    CHECK(chain_p50 > direct_p50);
    MESSAGE(fmt::format(
        "hop p: cpu {:.3f} s (forwarder {:.3f} s), {:.1f} us/transaction; added latency "
        "p50 {:+.1f} us, p99 {:+.1f} us; added cpu {:+.3f} s",
        hop["cpu_s"].get<double>(), hop["process_cpu_s"].get<double>(), hop["service_demand"].get<double>(),
        inst["direct"]["added_latency_p50_us"].get<double>(),
        inst["direct"]["added_latency_p99_us"].get<double>(), inst["direct"]["added_cpu_s"].get<double>()));

    // CSV: the proxy columns, in the README's order, filled in for this instance.
    std::string csv = slurp(s.dir / "out" / "results.csv");
    auto split_row = [](const std::string& row) {
        std::vector<std::string> fields;
        for (std::size_t at = 0;;) {
            auto comma = row.find(',', at);
            fields.push_back(row.substr(at, comma - at));
            if (comma == std::string::npos) break;
            at = comma + 1;
        }
        return fields;
    };
    const auto header = split_row(csv.substr(0, csv.find('\n')));
    std::string row = csv.substr(csv.find('\n') + 1);
    const auto fields = split_row(row.substr(0, row.find('\n')));
    REQUIRE(fields.size() == header.size());
    CHECK(csv.substr(0, csv.find('\n')).find(",proxy_cpu_s,added_latency_p50_us,added_latency_p99_us,") !=
          std::string::npos);
    for (const char* column : {"proxy_cpu_s", "added_latency_p50_us", "added_latency_p99_us"}) {
        auto at = std::find(header.begin(), header.end(), column);
        REQUIRE(at != header.end());
        CHECK_FALSE(fields[static_cast<std::size_t>(at - header.begin())].empty());
    }
}

TEST_CASE("proxy: tcp_stream, tcp_rr and tcp_crr through a local proxy host (three local agents)") {
    scratch s;
    std::ofstream(s.dir / "plan.yaml") << R"(version: 1
name: proxy-local
hosts: {c: {}, p: {}, srv: {}}
defaults: {client: c, server: srv, duration: 300ms, warmup: 100ms, via: [p]}
scenarios:
  - {name: stream, traffic: tcp_stream, direction: bidir, verify: true}
  - {name: rr, traffic: tcp_rr, flows: 2, in_flight: 4}
  - {name: crr, traffic: tcp_crr, compare_direct: true}
  - {name: udp, traffic: udp_rr}
)";
    int code = run_kperf(
        fmt::format("run {} -o {}", (s.dir / "plan.yaml").string(), (s.dir / "out").string()), s.dir);
    std::string log = slurp(s.dir / "log");
    INFO(log);
    REQUIRE(code == 0);
    json doc = json::parse(slurp(s.dir / "out" / "results.json"));
    REQUIRE(doc["instances"].size() == 4);
    for (std::size_t i = 0; i < 3; ++i) {
        const json& inst = doc["instances"][i];
        INFO(inst["id"]);
        CHECK(inst["status"] == "ok");
        REQUIRE(inst["hops"].size() == 1);
        CHECK(inst["hops"][0]["host"] == "p");
        CHECK(inst["hops"][0]["bytes_forward"].get<std::uint64_t>() > 0);
        CHECK(inst["hops"][0]["bytes_backward"].get<std::uint64_t>() > 0);
        CHECK(inst["hops"][0]["errors"] == 0);
        CHECK(inst["repeats"][0]["server"]["errors"]["verify"] == 0);
    }
    const json& crr = doc["instances"][2];
    CHECK(crr["hops"][0]["connections"].get<std::uint64_t>() > 10); // one per transaction
    CHECK(crr["direct"]["added_latency_p50_us"].is_number());
    // UDP does not go through a proxy: from defaults, via simply does not apply.
    CHECK_FALSE(doc["instances"][3].contains("hops"));
    CHECK(doc["instances"][3]["status"] == "ok");
}

TEST_CASE("proxy: a via host that is unreachable fails the instance and names the host") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    const auto& a = f.hosts().at(0).address;
    const auto& b = f.hosts().at(1).address;
    std::ofstream(s.dir / "plan.yaml") << fmt::format(R"(version: 1
hosts:
  a: {{ssh: "root@{0}", identity: "{2}", address: "{0}"}}
  b: {{ssh: "root@{1}", identity: "{2}", address: "{1}"}}
  p: {{ssh: "root@{3}", identity: "{2}", address: "{3}"}}
settings: {{connect_timeout: 2s}}
defaults: {{duration: 300ms, warmup: 100ms}}
scenarios:
  - {{name: rr, traffic: tcp_rr, client: a, server: b, via: [p]}}
)",
                                                      a, b, f.key(), f.unused_address());
    int code = run_kperf(fmt::format("run {} -o {} --known-hosts {}", (s.dir / "plan.yaml").string(),
                                     (s.dir / "out").string(), f.known_hosts()),
                         s.dir);
    std::string log = slurp(s.dir / "log");
    INFO(log);
    CHECK(code == 3);
    CHECK(log.find("ERROR rr: host p:") != std::string::npos);
}
