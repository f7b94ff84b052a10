// Plan hosts reached as users reach them: ssh_config aliases, jump hosts, settings.ssh_config.
#include <doctest/doctest.h>

#include <string>

#include "plan/plan_errors.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

TEST_CASE("plan ssh: an alias without user or port, jump hops and settings.ssh_config load") {
    auto p = load_plan("x.yaml", R"(version: 1
settings: {ssh_config: lab/ssh_config}
hosts:
  a: {ssh: lab1}
  b: {ssh: "root@198.18.0.3", jump: "bench@198.18.0.2:2222,bastion"}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: b}
)");
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    CHECK(p->settings.ssh_config == "lab/ssh_config");
    const auto& a = p->hosts[0];
    REQUIRE(a.ssh);
    CHECK(a.ssh->user.empty());
    CHECK_FALSE(a.ssh->port_given);
    CHECK(a.ssh->str() == "lab1");
    const auto& b = p->hosts[1];
    CHECK(b.ssh->str() == "root@198.18.0.3:22");
    REQUIRE(b.jump.size() == 2);
    CHECK(b.jump[0].str() == "bench@198.18.0.2:2222");
    CHECK(b.jump[0].port_given);
    CHECK(b.jump[1].str() == "bastion");
}

TEST_CASE("plan ssh: a bad jump, a jump without ssh and an empty ssh_config are located") {
    CHECK(errors_of(R"(version: 1
settings: {ssh_config: ""}
hosts:
  a: {ssh: h1, jump: "root@,b"}
  me: {jump: root@198.18.0.2}
scenarios:
  - {name: s, traffic: tcp_rr, client: a, server: a}
)") == "x.yaml:2:24: ssh_config: expected a file name (or none), got nothing\n"
       "settings: {ssh_config: \"\"}\n"
       "                       ^\n"
       "x.yaml:4:22: jump: expected [user@]host[:port] (several: a,b), got 'root@'\n"
       "  a: {ssh: h1, jump: \"root@,b\"}\n"
       "                     ^\n"
       "x.yaml:5:7: host 'me' has 'jump' but no 'ssh': it is the local machine\n"
       "  me: {jump: root@198.18.0.2}\n"
       "      ^\n");
}
