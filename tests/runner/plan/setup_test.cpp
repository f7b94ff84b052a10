// Setups in the plan language: `setups:`, the `setup` parameter (a matrix axis like any other),
// what validate and --dry-run print, and every located error.
#include <doctest/doctest.h>

#include <string>

#include "plan/plan_errors.hpp"
#include "runner/cli/dry_run.hpp"
#include "runner/plan/expand.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

namespace {
plan must_load(std::string_view text) {
    auto p = load_plan("s.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return *p;
}
constexpr std::string_view head = R"(version: 1
hosts:
  a: {ssh: root@198.18.0.1}
  b: {ssh: root@198.18.0.2}
)";
std::string plan_with(std::string_view rest) {
    return std::string(head) + std::string(rest);
}
constexpr std::string_view kvm = R"(setups:
  default: {}
  busy-poll:
    hosts:
      b: {sysctl: {net.core.busy_poll: 50, net.core.busy_read: 50}}
  fq-paced:
    hosts:
      b:
        run: ["tc qdisc replace dev eth0 root fq maxrate 2gbit"]
        undo: ["tc qdisc del dev eth0 root"]
  irq-pinned:
    hosts:
      a: {irq_affinity: {eth0: "0-1"}}
      b: {irq_affinity: {eth0: "0-1"}, sysctl: {net.ipv4.tcp_notsent_lowat: 16384}}
scenarios:
  - name: rpc
    traffic: tcp_rr
    client: a
    server: b
    matrix: {setup: [default, busy-poll, fq-paced], request_size: [64, 4KiB]}
)";
} // namespace

TEST_CASE("setups: loaded in the order written; setup is a matrix axis and appears in the ids") {
    auto p = must_load(plan_with(kvm));
    REQUIRE(p.setups.size() == 4);
    CHECK(p.setups[0].name == "default");
    CHECK(p.setups[0].hosts.empty());
    const setup_def* bp = p.find_setup("busy-poll");
    REQUIRE(bp != nullptr);
    REQUIRE(bp->hosts.size() == 1);
    CHECK(bp->hosts[0].host == "b");
    REQUIRE(bp->hosts[0].sysctl.size() == 2);
    CHECK(bp->hosts[0].sysctl[0] == std::pair<std::string, std::string>{"net.core.busy_poll", "50"});
    CHECK(bp->hosts[0].sysctl[1].first == "net.core.busy_read");
    const setup_def* fq = p.find_setup("fq-paced");
    REQUIRE(fq != nullptr);
    CHECK(fq->hosts[0].run == std::vector<std::string>{"tc qdisc replace dev eth0 root fq maxrate 2gbit"});
    CHECK(fq->hosts[0].undo == std::vector<std::string>{"tc qdisc del dev eth0 root"});
    const setup_def* irq = p.find_setup("irq-pinned");
    REQUIRE(irq != nullptr);
    REQUIRE(irq->hosts.size() == 2);
    CHECK(irq->hosts[0].irq_affinity[0] == std::pair<std::string, std::string>{"eth0", "0-1"});
    CHECK(p.find_setup("nope") == nullptr);

    auto in = expand(p);
    REQUIRE(in.size() == 6);
    CHECK(in[0].id == "rpc/setup=default,request_size=64");
    CHECK(in[2].id == "rpc/setup=busy-poll,request_size=64");
    CHECK(in[2].setup == "busy-poll");
    CHECK(in[5].setup == "fq-paced");
    bool listed = false;
    for (const auto& [k, v] : in[2].params)
        listed = listed || (k == "setup" && v == "busy-poll");
    CHECK(listed);
}

TEST_CASE("setups: without a setup an instance changes nothing and lists no setup parameter") {
    auto p = must_load(plan_with("scenarios:\n  - {name: s, traffic: tcp_stream, client: a, server: b}\n"));
    auto in = expand(p);
    REQUIRE(in.size() == 1);
    CHECK(in[0].setup.empty());
    for (const auto& [k, v] : in[0].params)
        CHECK(k != "setup");
}

TEST_CASE("setups: a group's setup is the group's; a member may not choose one") {
    auto p = must_load(plan_with(R"(setups:
  lowat: {hosts: {a: {sysctl: {net.ipv4.tcp_notsent_lowat: 16384}}}}
defaults: {setup: lowat}
scenarios:
  - name: g
    client: a
    server: b
    group:
      - {name: up, traffic: tcp_stream}
      - {name: probe, traffic: tcp_rr}
)"));
    auto in = expand(p);
    REQUIRE(in.size() == 1);
    CHECK(in[0].setup == "lowat");
    CHECK(in[0].members[0].setup == "lowat");
    auto e = errors_of(plan_with(R"(setups:
  lowat: {}
scenarios:
  - name: g
    client: a
    server: b
    group:
      - {name: up, traffic: tcp_stream, setup: lowat}
)"));
    CHECK(e.find("x.yaml:12:41: 'setup' is not allowed in a group member: a group's setup applies to every "
                 "host of its members: set it on the group") != std::string::npos);
}

TEST_CASE("setups: located errors") {
    // An undefined host, with the nearest name.
    auto e = errors_of(plan_with(R"(setups:
  busy: {hosts: {bb: {sysctl: {net.core.busy_poll: 50}}}}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b}
)"));
    CHECK(e.find("x.yaml:6:18: setup 'busy': undefined host 'bb', did you mean 'b'?") != std::string::npos);
    e = errors_of(plan_with(R"(setups:
  busy: {hosts: {zzz: {}}}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b}
)"));
    CHECK(e.find("setup 'busy': undefined host 'zzz' (hosts are: a, b)") != std::string::npos);
    // Unknown keys, at every level.
    e = errors_of(plan_with(R"(setups:
  busy: {host: {b: {}}}
  two: {hosts: {b: {sysctls: {net.core.busy_poll: 50}}}}
  three: {hosts: {b: {password: x}}}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b}
)"));
    CHECK(e.find("x.yaml:6:10: unknown key 'host', did you mean 'hosts'?") != std::string::npos);
    CHECK(e.find("x.yaml:7:21: unknown key 'sysctls', did you mean 'sysctl'?") != std::string::npos);
    CHECK(e.find("x.yaml:8:23: 'password' is not allowed: plans never hold passwords") != std::string::npos);
    // A setup used but not defined: in a scenario, in a matrix, with the nearest name.
    e = errors_of(plan_with(R"(setups:
  busy-poll: {}
  default: {}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b, setup: busypoll}
  - name: m
    traffic: tcp_rr
    client: a
    server: b
    matrix: {setup: [default, fq]}
)"));
    CHECK(e.find("x.yaml:9:61: setup 'busypoll' is not defined, did you mean 'busy-poll'?") !=
          std::string::npos);
    CHECK(e.find("x.yaml:14:31: setup 'fq' is not defined (setups: busy-poll, default)") !=
          std::string::npos);
    e = errors_of(plan_with("scenarios:\n  - {name: s, traffic: tcp_rr, client: a, server: b, setup: x}\n"));
    CHECK(e.find("setup 'x' is not defined (setups: none)") != std::string::npos);
    // Bad values.
    e = errors_of(plan_with(R"(setups:
  bad:
    hosts:
      b:
        sysctl: {../../etc/passwd: 1, net.core.busy_poll: {a: 1}}
        irq_affinity: {eth0: "zero"}
        run: [""]
        undo: {a: b}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b}
)"));
    CHECK(e.find("x.yaml:9:18: sysctl: expected a name such as net.core.busy_poll, got '../../etc/passwd'") !=
          std::string::npos);
    CHECK(e.find("sysctl.net.core.busy_poll: expected a single value, got a mapping") != std::string::npos);
    CHECK(e.find("x.yaml:10:30: irq_affinity.eth0: expected a CPU list such as 0-3,8, got 'zero'") !=
          std::string::npos);
    CHECK(e.find("x.yaml:11:15: run: expected a command (a non-empty string), got ''") != std::string::npos);
    CHECK(e.find("undo: expected a command (a non-empty string), got a mapping") != std::string::npos);
}

TEST_CASE("setups: validate and --dry-run show every command and value, with its host") {
    auto p = must_load(plan_with(kvm));
    const std::string s = format_setups(p);
    CHECK(s.find("  default: changes nothing\n") != std::string::npos);
    CHECK(s.find("    host b: sysctl net.core.busy_poll = 50\n") != std::string::npos);
    CHECK(s.find("    host b: run: tc qdisc replace dev eth0 root fq maxrate 2gbit\n") != std::string::npos);
    CHECK(s.find("    host b: undo: tc qdisc del dev eth0 root\n") != std::string::npos);
    CHECK(s.find("    host a: irq_affinity eth0: every IRQ of eth0 to CPUs 0-1\n") != std::string::npos);
    const std::string d = format_dry_run(p);
    CHECK(d.find(s) != std::string::npos);
    CHECK(d.find("[3/6] rpc/setup=busy-poll,request_size=64\n") != std::string::npos);
    CHECK(d.find("    setup: busy-poll\n") != std::string::npos);
    CHECK(format_setups(
              must_load(plan_with("scenarios:\n  - {name: s, traffic: tcp_rr, client: a, server: b}\n")))
              .empty());
}
