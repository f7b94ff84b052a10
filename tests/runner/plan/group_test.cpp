// Groups in the plan language: `group:`, `clients:`, `mesh:` and `pairs:`, member matrix axes
// and expectations, and every located error.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "plan/plan_errors.hpp"
#include "runner/cli/dry_run.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/plan/expand.hpp"

using namespace kp::runner;
using kp::engine::traffic;
using kp::runner::test::errors_of;

namespace {
plan must_load(std::string_view text) {
    auto p = load_plan("g.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return *p;
}
constexpr std::string_view hosts = R"(version: 1
hosts:
  a: {ssh: root@198.18.0.1}
  b: {ssh: root@198.18.0.2}
  c: {ssh: root@198.18.0.3}
  d: {ssh: root@198.18.0.4}
defaults: {duration: 3s, warmup: 1s}
scenarios:
)";
std::string plan_with(std::string_view scenarios) {
    return std::string(hosts) + std::string(scenarios);
}
} // namespace

TEST_CASE("group: members inherit the group's settings and share its window; member axes vary one member") {
    auto p = must_load(plan_with(R"(  - name: rrul
    client: a
    server: b
    duration: 5s
    repeat: 3
    group:
      - {name: up, traffic: tcp_stream}
      - {name: down, traffic: tcp_stream, direction: reverse}
      - {name: probe, traffic: tcp_rr, rate: 200/s}
    matrix: {up.flows: [1, 4], write_size: [16KiB, 64KiB]}
    compare_idle: true
    expect: {probe.latency_p99: "< 10ms", throughput_bps: "> 1Mbit/s"}
)"));
    auto in = expand(p);
    REQUIRE(in.size() == 4);
    CHECK(in[0].id == "rrul/up.flows=1,write_size=16KiB");
    CHECK(in[3].id == "rrul/up.flows=4,write_size=64KiB");
    const instance& g = in[0];
    REQUIRE(g.is_group());
    REQUIRE(g.members.size() == 3);
    CHECK(g.members[0].id == "rrul/up.flows=1,write_size=16KiB/up");
    CHECK(g.members[0].member == "up");
    CHECK(g.members[0].job.flows == 1);
    CHECK(in[2].members[0].job.flows == 4); // the member axis varies "up" only
    CHECK(in[2].members[1].job.flows == 1);
    CHECK(g.members[1].job.dir == kp::engine::direction::reverse);
    CHECK(g.members[0].job.write_size == 16 * 1024); // a group axis reaches every member it applies to
    CHECK(g.members[1].job.write_size == 16 * 1024);
    CHECK(g.members[2].job.kind == traffic::tcp_rr);
    CHECK(g.members[2].job.rate == doctest::Approx(200));
    for (const auto& m : g.members) {
        CHECK(m.client == "a");
        CHECK(m.server == "b");
        CHECK(m.job.duration == std::chrono::seconds(5)); // the group's window
        CHECK(m.job.warmup == std::chrono::seconds(1));
        CHECK(m.repeat == 1);
    }
    CHECK(g.repeat == 3);
    CHECK(g.compare_idle);
    REQUIRE(g.expect.size() == 2);
    CHECK(g.expect[0].member == "probe");
    CHECK(g.expect[0].metric == "latency_p99");
    CHECK(g.expect[1].member.empty());
    CHECK(group_measures(g, metric::throughput_bps));
    CHECK(group_measures(g, metric::fairness));
    CHECK(group_measures(g, metric::latency_p99));        // one latency kind: its histograms merge
    CHECK_FALSE(group_measures(g, metric::client_cpu_s)); // per host, never per group
    CHECK_FALSE(group_measures(g, metric::connections_per_s));
    CHECK(pair_instances(in).size() == 12);
}

TEST_CASE("group: clients, mesh and pairs generate one member per client, ordered pair, pair") {
    auto p = must_load(plan_with(R"(  - name: incast
    traffic: tcp_stream
    clients: [a, b, c]
    server: d
  - name: all
    traffic: tcp_rr
    mesh: [a, b, c, d]
  - name: two
    traffic: udp_rr
    pairs: [[a, b], [c, d]]
)"));
    auto in = expand(p);
    REQUIRE(in.size() == 3);
    REQUIRE(in[0].members.size() == 3);
    CHECK(in[0].members[1].id == "incast/b");
    CHECK(in[0].members[1].client == "b");
    CHECK(in[0].members[1].server == "d");
    REQUIRE(in[1].members.size() == 12);
    CHECK(in[1].members[0].id == "all/a-b");
    CHECK(in[1].members[11].id == "all/d-c");
    std::set<std::pair<std::string, std::string>> pairs;
    for (const auto& m : in[1].members) {
        CHECK(m.client != m.server);
        pairs.emplace(m.client, m.server);
    }
    CHECK(pairs.size() == 12);
    REQUIRE(in[2].members.size() == 2);
    CHECK(in[2].members[1].client == "c");
    CHECK(in[2].members[1].server == "d");
    CHECK(in[2].members[1].job.kind == traffic::udp_rr);
    auto text = format_dry_run(p);
    CHECK(text.find("group of 12 members") != std::string::npos);
    CHECK(text.find("member a-b: tcp_rr a -> b") != std::string::npos);
}

TEST_CASE("group: plan errors are located and say what was expected") {
    auto e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    group:
      - {name: up, traffic: tcp_stream}
      - {name: up, traffic: tcp_rr}
)"));
    CHECK(e.find("member name 'up' is used twice in group 'g' (first at line 13)") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    group:
      - {name: probe, traffic: tcp_rr}
    matrix: {prbe.in_flight: [1, 2]}
    expect: {probe.latency_p99: "< 1ms", prob.latency_p50: "< 1ms"}
)"));
    CHECK(e.find("matrix: group 'g' has no member 'prbe', did you mean 'probe'?") != std::string::npos);
    CHECK(e.find("expect: group 'g' has no member 'prob', did you mean 'probe'?") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    group:
      - {name: up, traffic: tcp_stream, client: a, server: x}
)"));
    CHECK(e.find("undefined host 'x'") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    search: {rate: [1k/s, 10k/s], slo: {latency_p99: "< 1ms"}}
    group:
      - {name: p, traffic: tcp_rr}
)"));
    CHECK(e.find("'search' cannot be used in a group: a search runs its probes one at a time, alone") !=
          std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    group:
      - {name: p, traffic: tcp_rr, duration: 2s}
      - {name: q, traffic: tcp_rr, search: {rate: [1k/s, 2k/s]}}
      - {name: r, traffic: tcp_rr, group: []}
)"));
    CHECK(
        e.find(
            "x.yaml:13:36: 'duration' is not allowed in a group member: members share the group's window") !=
        std::string::npos);
    CHECK(e.find("'search' is not allowed in a group member") != std::string::npos);
    CHECK(e.find("'group' is not allowed in a group member: groups do not nest") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: solo
    traffic: tcp_rr
    client: a
    server: b
    compare_idle: true
    expect: {x.latency_p99: "< 1ms"}
)"));
    CHECK(e.find("compare_idle needs a group") != std::string::npos);
    CHECK(e.find("only a group's expect may name a member") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    in_flight: 8
    group:
      - {name: up, traffic: tcp_stream}
)"));
    CHECK(e.find("'in_flight' applies to no member of group 'g'") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    client: a
    server: b
    group:
      - {name: up, traffic: tcp_stream, flows: 2}
    matrix: {flows: [1, 2]}
    expect: {latency_p99: "< 1ms", up.latency_p99: "< 1ms"}
)"));
    CHECK(e.find("'flows' is set in member 'up' and varied for every member by the group's matrix; write the "
                 "axis as 'up.flows' instead") != std::string::npos);
    CHECK(e.find("expect: group 'g' does not measure latency_p99") != std::string::npos);
    CHECK(e.find("expect: tcp_stream does not measure latency_p99") != std::string::npos);

    e = errors_of(plan_with(R"(  - name: g
    traffic: tcp_rr
    mesh: [a]
)"));
    CHECK(e.find("mesh: expected at least two hosts") != std::string::npos);
    e = errors_of(plan_with(R"(  - name: g
    traffic: tcp_rr
    clients: [a]
    pairs: [[a, b]]
    server: b
)"));
    CHECK(e.find("a scenario has one of group, clients, mesh or pairs; this one already has 'clients'") !=
          std::string::npos);
}

TEST_CASE("group: two members pinned to the same CPU of one host are refused before traffic") {
    auto p = must_load(plan_with(R"(  - name: g
    client: a
    server: b
    group:
      - {name: x, traffic: tcp_stream, placement: {client: "0-1"}}
      - {name: y, traffic: tcp_stream, placement: {client: "1"}}
      - {name: z, traffic: tcp_stream, placement: {client: "2", server: "0"}}
)"));
    agent_pool none;
    auto text = check_placements(p, expand(p), none);
    CHECK(
        text.find("group 'g': member y (client) and member x (client) are both pinned to CPU 1 of host a") !=
        std::string::npos);
    CHECK(text.find("member z") == std::string::npos); // CPU 2 on a and CPU 0 on b collide with no one
}
