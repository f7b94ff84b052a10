// `exec:` hosts and `address: auto` in the plan model: what loads, and located errors.
#include <doctest/doctest.h>

#include <string>

#include "plan/plan_errors.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

namespace {

std::string with_host(std::string_view host) {
    return "version: 1\nhosts:\n  a: " + std::string(host) +
           "\nscenarios:\n  - name: s\n    traffic: tcp_rr\n";
}

} // namespace

TEST_CASE("plan: an exec host keeps its command; without address it is auto") {
    auto p = load_plan("x.yaml", with_host("{exec: [kubectl, exec, -i, -n, perf, pod-a, -c, agent, --]}"));
    REQUIRE_MESSAGE(p.has_value(), p.error().text);
    const auto& h = p->hosts.at(0);
    CHECK(h.exec ==
          std::vector<std::string>{"kubectl", "exec", "-i", "-n", "perf", "pod-a", "-c", "agent", "--"});
    CHECK_FALSE(h.local());
    REQUIRE(h.address_auto.has_value());
    CHECK(*h.address_auto == "");
    CHECK(h.address == "auto");
}

TEST_CASE("plan: address auto and {auto: eth0}; a given address stays") {
    auto named = load_plan("x.yaml", with_host("{exec: [ip, netns, exec, ns1], address: {auto: eth0}}"));
    REQUIRE_MESSAGE(named.has_value(), named.error().text);
    CHECK(named->hosts[0].address_auto == std::optional<std::string>("eth0"));
    CHECK(named->hosts[0].address == "auto:eth0");
    auto ssh = load_plan("x.yaml", with_host("{ssh: root@198.18.0.1, address: auto}"));
    REQUIRE_MESSAGE(ssh.has_value(), ssh.error().text);
    CHECK(ssh->hosts[0].address_auto == std::optional<std::string>(""));
    auto given = load_plan("x.yaml", with_host("{exec: [docker, exec, -i, box], address: 198.18.0.9}"));
    REQUIRE_MESSAGE(given.has_value(), given.error().text);
    CHECK_FALSE(given->hosts[0].address_auto.has_value());
    CHECK(given->hosts[0].address == "198.18.0.9");
}

TEST_CASE("plan: exec errors are located") {
    CHECK(errors_of(with_host("{exec: []}")) == "x.yaml:3:13: exec: expected a non-empty list of strings "
                                                "such as [kubectl, exec, -i, -n, perf, pod-a, "
                                                "--], got []\n  a: {exec: []}\n            ^\n");
    CHECK(errors_of(with_host("{exec: docker}"))
              .starts_with("x.yaml:3:13: exec: expected a non-empty list of strings such as [kubectl, exec, "
                           "-i, -n, perf, pod-a, "
                           "--], got a scalar\n"));
    CHECK(errors_of(with_host("{exec: [ip, {a: 1}]}"))
              .starts_with("x.yaml:3:18: exec: item 2: expected a non-empty string, got a mapping\n"));
    CHECK(errors_of(with_host("{ssh: root@198.18.0.1, exec: [ip]}"))
              .starts_with(
                  "x.yaml:3:35: host 'a' has both 'ssh' and 'exec': it is reached one way, choose one\n"));
    CHECK(
        errors_of(with_host("{exec: [ip], identity: k}"))
            .starts_with("x.yaml:3:6: host 'a' has 'identity' but no 'ssh': it is reached through 'exec'\n"));
    CHECK(errors_of(with_host("{exec: [ip], address: {auto: 1, x: 2}}"))
              .starts_with("x.yaml:3:28: address: expected an address, 'auto', or {auto: INTERFACE} such as "
                           "{auto: eth0}\n"));
}
