// `kperf-plan check` against two namespace hosts over real sshd (tests/netns): a good plan passes
// and prints what each agent reports; a data address the client cannot reach, or that its host
// does not have, fails its pair (exit 3); a placement that cannot hold is a located error (exit 2).
#include "e2e_util.hpp"

#include <fmt/format.h>
#include <sched.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// Hosts a and b over SSH; b's data address is `b_address` (default: its own). `extra` adds hosts.
std::string check_plan(const netns_hosts& f, const std::string& scenarios, const std::string& b_address = {},
                       const std::string& extra = {}) {
    const auto& a = f.hosts().at(0).address;
    const auto& b = f.hosts().at(1).address;
    return fmt::format(R"(version: 1
name: e2e-check
hosts:
  a: {{ssh: "root@{}", identity: "{}", address: "{}"}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
{}settings: {{connect_timeout: 3s}}
defaults: {{client: a, server: b, duration: 10m}}
scenarios:
{})",
                       a, f.key(), a, b, f.key(), b_address.empty() ? b : b_address, extra, scenarios);
}

} // namespace

TEST_SUITE_BEGIN("e2e-check");

TEST_CASE("e2e: check passes a good plan, prints each host's facts and probes each pair; no traffic run") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    // Ten-minute instances: check must not run them.
    auto plan = s.write("plan.yaml", check_plan(f, R"(  - {name: rr, traffic: tcp_rr}
  - {name: rr-matrix, traffic: tcp_rr, matrix: {flows: [1, 2]}}
  - {name: back, traffic: udp_stream, client: b, server: a}
)"));
    auto r = run_kperf({"check", plan.string(), "--known-hosts", f.known_hosts()}, s / "log", 60s, s.dir);
    INFO(r.log);
    CHECK(r.code == 0);
    CHECK(r.seconds < 30);
    CHECK(contains(r.log, "kperf-plan check: plan e2e-check (" + plan.string() +
                              "): 4 instance(s), 2 host(s), 2 pair(s); no traffic is measured"));
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& addr = f.hosts()[i].address;
        std::string name = i == 0 ? "a" : "b";
        INFO("host " << name);
        CHECK(contains(r.log, fmt::format("host {}: ssh root@{}:22\n", name, addr)));
        CHECK(contains(r.log, fmt::format("  data address: {} (on eth0)\n", addr)));
    }
    CHECK(std::regex_search(r.log, std::regex(R"(  agent: 0\.1\.0\+[0-9a-f]{16} \(pid \d+, protocol \d+\), )"
                                              R"(binary /root/\.cache/kperf-plan/[0-9a-f]{64}/kperf-plan)")));
    CHECK(std::regex_search(r.log, std::regex(R"(  system: .*, kernel \S+ \(\S+\))")));
    CHECK(std::regex_search(r.log, std::regex(R"(  cpus: \d+ online, allowed [0-9,-]+)")));
    CHECK(std::regex_search(r.log, std::regex(R"(  ktls: (available|unavailable \(.+\)))")));
    CHECK(std::regex_search(r.log, std::regex(R"(  interfaces: eth0 198\.18\.)")));
    CHECK(contains(r.log, "placement: every rule can hold on its host"));
    const auto& a = f.hosts()[0].address;
    const auto& b = f.hosts()[1].address;
    CHECK(std::regex_search(r.log,
                            std::regex(fmt::format(R"(pair a -> b \({}\): tcp_rr ok, [1-9]\d* transactions)",
                                                   std::regex_replace(b, std::regex(R"(\.)"), R"(\.)")))));
    CHECK(contains(r.log, fmt::format("pair b -> a ({}): tcp_rr ok, ", a)));
    CHECK(contains(r.log, fmt::format("pair b -> a ({}): udp_rr ok, ", a))); // the pair carries UDP
    CHECK(!contains(r.log, fmt::format("pair a -> b ({}): udp_rr", b)));
    CHECK(contains(r.log, "check: ok: 2 host(s), 2 pair(s) exchange data"));
    CHECK(!fs::exists(s / "results")); // check writes no reports
}

TEST_CASE("e2e: check finds a data address the client cannot reach and one its host lacks (exit 3)") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    // An address host b has (on its lo) but host a has no route to.
    int rc = 0;
    auto out = run_shell(fmt::format("ip -n {} addr add 198.19.250.2/32 dev lo 2>&1", f.hosts()[1].ns), &rc);
    REQUIRE_MESSAGE(rc == 0, out);
    scratch s;
    // Host c is b's machine again, with an address nobody has.
    auto extra = fmt::format("  c: {{ssh: \"root@{}\", identity: \"{}\", address: \"{}\"}}\n",
                             f.hosts()[1].address, f.key(), f.unused_address());
    auto plan = s.write("plan.yaml", check_plan(f, R"(  - {name: rr, traffic: tcp_rr}
  - {name: to-c, traffic: tcp_rr, server: c}
)",
                                                "198.19.250.2", extra));
    // A long connect timeout: the server side must not sit it out once the client has failed.
    {
        auto text = slurp(plan);
        text.replace(text.find("connect_timeout: 3s"), 19, "connect_timeout: 20s");
        s.write("plan.yaml", text);
    }
    auto r = run_kperf({"check", plan.string(), "--known-hosts", f.known_hosts()}, s / "log", 60s, s.dir);
    INFO(r.log);
    CHECK(r.code == 3);
    CHECK(contains(r.log, "  data address: 198.19.250.2 (on lo)\n"));
    CHECK(contains(
        r.log, fmt::format("  data address: {} (WARNING: on none of its interfaces)\n", f.unused_address())));
    CHECK(std::regex_search(
        r.log,
        std::regex(
            R"(pair a -> b \(198\.19\.250\.2\): tcp_rr FAILED: host a: )"
            R"(establish check/a/b/tcp_rr#0/client: flow 0: connect 198\.19\.250\.2:\d+: Network is unreachable)")));
    CHECK(std::regex_search(
        r.log,
        std::regex(fmt::format(
            R"(pair a -> c \({}\): tcp_rr FAILED: host c: listen check/a/c/tcp_rr#0/server: bind .*Cannot assign )"
            R"(requested address)",
            std::regex_replace(f.unused_address(), std::regex(R"(\.)"), R"(\.)")))));
    CHECK(contains(r.log, "check: FAILED: 2 of 2 pair(s) cannot exchange data (exit 3)"));
    CHECK(r.seconds < 15);
}

TEST_CASE("e2e: check reports a placement that cannot hold on its host, located (exit 2)") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    auto plan = s.write("plan.yaml", check_plan(f, R"(  - name: pinned
    traffic: tcp_rr
    placement: {server: "63"}
)"));
    auto r = run_kperf({"check", plan.string(), "--known-hosts", f.known_hosts()}, s / "log", 60s, s.dir);
    INFO(r.log);
    CHECK(r.code == 2);
    CHECK(contains(r.log, "placement: some rules cannot hold (below)"));
    CHECK(std::regex_search(r.log, std::regex(R"(plan\.yaml:11:25: placement '63' cannot hold on host b )"
                                              R"(\(allowed CPUs [0-9,-]+\): )")));
    CHECK(contains(r.log, "    placement: {server: \"63\"}\n" + std::string(24, ' ') + "^\n"));
    CHECK(contains(r.log, "check: FAILED: placement rules cannot hold on their hosts (exit 2)"));
}

TEST_CASE("e2e: distinct_rx with more flows than a host's CPUs is refused by check and run, located") {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    const int cpus = CPU_COUNT(&set); // the local agent inherits this affinity
    scratch s;
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
hosts: {{me: {{}}}}
scenarios:
  - name: spread
    traffic: tcp_rr
    flows: {}
    duration: 1s
    placement: {{distinct_rx: true}}
)",
                                                 cpus + 1));
    const std::string message =
        fmt::format("plan.yaml:8:30: distinct_rx: {} flows need {} distinct receive CPUs, but host me has {} "
                    "(allowed CPUs ",
                    cpus + 1, cpus + 1, cpus);
    auto c = run_kperf({"check", plan.string()}, s / "check.log", 60s, s.dir);
    INFO(c.log);
    CHECK(c.code == 2);
    CHECK(contains(c.log, message));
    CHECK(contains(c.log, fmt::format("); use at most {} flows or drop distinct_rx\n"
                                      "    placement: {{distinct_rx: true}}\n"
                                      "                             ^\n",
                                      cpus)));
    CHECK(contains(c.log, "check: FAILED: placement rules cannot hold on their hosts (exit 2)"));
    auto r = run_kperf({"run", plan.string(), "-o", (s / "res").string()}, s / "run.log", 60s, s.dir);
    INFO(r.log);
    CHECK(r.code == 2);
    CHECK(contains(r.log, message));
    CHECK(r.seconds < 10); // refused before any traffic
}

TEST_CASE("e2e: check of a plan with errors prints them located and contacts nothing (exit 2)") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
hosts:
  a: {address: "198.18.0.1:5201"}
scenarios:
  - {name: rr, traffic: tcp_rr}
)");
    auto r = run_kperf({"check", plan.string()}, s / "log", 30s, s.dir);
    INFO(r.log);
    CHECK(r.code == 2);
    CHECK(contains(r.log, "plan.yaml:3:16: address: '198.18.0.1:5201': a data-plane address has no port"));
    CHECK(!contains(r.log, "kperf-plan check: plan"));
}

TEST_SUITE_END();
