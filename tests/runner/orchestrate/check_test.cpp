// `check`: which pairs a plan's instances probe, how a route and a host's facts read, and a
// probe between two local agents over IPv6 loopback.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "runner/orchestrate/check.hpp"
#include "runner/orchestrate/hosts.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;

namespace {

plan load(std::string_view text) {
    auto p = load_plan("c.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return std::move(*p);
}

/// Built on first use: the loader's tables are not ready during static initialization.
plan three_hosts() {
    return load(R"(version: 1
hosts:
  a: {address: "2001:2::1"}
  b: {address: "[2001:2::2]"}
  p: {address: 198.18.0.3}
defaults: {client: a, server: b}
scenarios:
  - {name: rr, traffic: tcp_rr, matrix: {flows: [1, 2]}}
  - {name: us, traffic: udp_stream}
  - {name: back, traffic: tcp_stream, client: b, server: a}
  - {name: via, traffic: tcp_rr, via: [p]}
)");
}

} // namespace

TEST_CASE("check: one probe route per distinct pair and chain; UDP marked where an instance is UDP") {
    const plan p = three_hosts();
    auto routes = probe_routes(expand(p));
    REQUIRE(routes.size() == 3);
    CHECK(routes[0] == probe_route{"a", "b", {}, true}); // rr twice (matrix) and us
    CHECK(routes[1] == probe_route{"b", "a", {}, false});
    CHECK(routes[2] == probe_route{"a", "b", {"p"}, false});
    CHECK(describe_route(p, routes[0]) == "a -> b (2001:2::2)");
    CHECK(describe_route(p, routes[2]) == "a -> b via p (p 198.18.0.3, b 2001:2::2)");
}

TEST_CASE(
    "check: a host's facts name transport, binary, kernel, CPUs, kTLS, interfaces and the data address") {
    host_record h;
    h.name = "b";
    h.transport = "ssh root@198.18.0.2:22";
    h.capabilities = nlohmann::json::parse(R"({"protocol_version": 2, "build_id": "0.1.0+0123456789abcdef",
        "pid": 42, "arch": "x86_64", "kernel": "6.1.0", "cpu_count": 4, "allowed_cpus": [0, 1, 2],
        "ktls": false, "ktls_reason": "kernel has no TLS ULP",
        "interfaces": [{"name": "eth0", "addresses": ["198.18.0.2", "2001:2:0:0::2"], "mtu": 1500,
                        "driver": "virtio_net"},
                       {"name": "lo", "addresses": ["127.0.0.1", "::1"], "mtu": 65536, "driver": ""}]})");
    h.environment = {{"executable", "/root/.cache/kperf-plan/ab/kperf-plan"},
                     {"hostname", "bench-b"},
                     {"cpu_model", "Xeon"}};
    const std::string head = "host b: ssh root@198.18.0.2:22\n"
                             "  agent: 0.1.0+0123456789abcdef (pid 42, protocol 2), binary "
                             "/root/.cache/kperf-plan/ab/kperf-plan\n"
                             "  system: bench-b, kernel 6.1.0 (x86_64), Xeon\n"
                             "  cpus: 4 online, allowed 0-2\n"
                             "  ktls: unavailable (kernel has no TLS ULP)\n"
                             "  interfaces: eth0 198.18.0.2 2001:2:0:0::2 (mtu 1500, virtio_net); "
                             "lo 127.0.0.1 ::1 (mtu 65536)\n";
    // IPv6 addresses compare as addresses, not as text.
    CHECK(format_host_facts(h, "2001:2::2") == head + "  data address: 2001:2::2 (on eth0)\n");
    CHECK(format_host_facts(h, "198.18.0.9") ==
          head + "  data address: 198.18.0.9 (WARNING: on none of its interfaces)\n");
    CHECK(format_host_facts(h, "bench-b.example") ==
          head + "  data address: bench-b.example (a name; the probes show whether it reaches this host)\n");

    host_record down;
    down.name = "c";
    down.transport = "ssh root@198.18.0.3:22";
    down.failure = failure_reason{"c", "start agent", "connection refused"};
    CHECK(format_host_facts(down, "198.18.0.3") ==
          "host c: ssh root@198.18.0.3:22\n  FAILED: start agent: connection refused\n");
}

TEST_CASE(
    "check: a probe between two local agents over IPv6 loopback exchanges data; a wrong address fails") {
    const plan p = load(R"(version: 1
hosts:
  a: {address: "::1"}
  b: {address: "[::1]"}
  c: {address: "2001:2::250"}
defaults: {client: a, server: b}
scenarios:
  - {name: rr, traffic: tcp_rr}
  - {name: to-c, traffic: tcp_rr, server: c}
)");
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin, "KPERF_PLAN_BIN is not set (run through meson test)");
    const std::string exe = bin;
    agent_pool pool = open_agents(p, {"a", "b", "c"}, {}, exe, [](const std::string&) {});
    REQUIRE(pool.find("a"));
    REQUIRE(pool.find("b"));
    probe_timing t;
    t.window = std::chrono::milliseconds(50);
    t.establish = std::chrono::seconds(2);
    auto ok = run_probe(p, {"a", "b", {}, false}, kp::engine::traffic::tcp_rr, pool, t);
    CHECK_MESSAGE(!ok.failure, (ok.failure ? ok.failure->error : ""));
    CHECK(ok.transactions > 0);
    CHECK(ok.p50_us > 0);
    auto udp = run_probe(p, {"a", "b", {}, true}, kp::engine::traffic::udp_rr, pool, t);
    CHECK_MESSAGE(!udp.failure, (udp.failure ? udp.failure->error : ""));
    CHECK(udp.transactions > 0);
    // Nobody here has 2001:2::250: c's agent cannot listen on it.
    auto bad = run_probe(p, {"a", "c", {}, false}, kp::engine::traffic::tcp_rr, pool, t);
    REQUIRE(bad.failure);
    CHECK(bad.failure->host == "c");
    CHECK(bad.failure->step == "listen check/a/c/tcp_rr#0/server");
    CHECK(bad.failure->error.starts_with("bind [2001:2::250]:0: ")); // the context once, in the step
    pool.shutdown();
}
