#include <doctest/doctest.h>

#include <string>

#include "runner/plan/address.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;

TEST_CASE("address: IPv4, IPv6 and host names pass as written; brackets come off") {
    CHECK(parse_data_address("198.18.0.2").value() == "198.18.0.2");
    CHECK(parse_data_address("2001:2::1").value() == "2001:2::1");
    CHECK(parse_data_address("[2001:2::1]").value() == "2001:2::1");
    CHECK(parse_data_address("::1").value() == "::1");
    CHECK(parse_data_address("::ffff:198.18.0.2").value() == "::ffff:198.18.0.2");
    CHECK(parse_data_address("fe80::1%eth0").value() == "fe80::1%eth0");
    CHECK(parse_data_address("[fe80::1%eth0]").value() == "fe80::1%eth0");
    CHECK(parse_data_address("bench-b.example").value() == "bench-b.example");
}

TEST_CASE("address: a port, a bad IPv6 address or a missing bracket is an error that says so") {
    CHECK(
        parse_data_address("198.18.0.2:5201").error() ==
        "'198.18.0.2:5201': a data-plane address has no port (the agents pick the ports); write 198.18.0.2");
    CHECK(
        parse_data_address("[2001:2::1]:5201").error() ==
        "'[2001:2::1]:5201': a data-plane address has no port (the agents pick the ports); write 2001:2::1");
    CHECK(parse_data_address("[2001:2::1").error() == "'[2001:2::1': missing ']' after the IPv6 address");
    CHECK(parse_data_address("[198.18.0.2]").error() ==
          "'[198.18.0.2]': '198.18.0.2' in brackets is not an IPv6 address");
    CHECK(parse_data_address("2001:2::1::2").error() == "'2001:2::1::2' is not an IPv6 address");
    CHECK(parse_data_address("2001:2:g::1").error() == "'2001:2:g::1' is not an IPv6 address");
    CHECK(parse_data_address("fe80::1%").error() == "'fe80::1%' is not an IPv6 address");
    CHECK_FALSE(is_ipv6_literal("198.18.0.2"));
    CHECK(is_ipv6_literal("2001:2:0:42::1"));
}

TEST_CASE("plan: IPv6 data-plane addresses load; an address with a port is a located error") {
    auto p = load_plan("v6.yaml", R"(version: 1
hosts:
  a: {address: "2001:2::1"}
  b: {ssh: "root@[2001:2::2]:22"}
  c: {ssh: root@198.18.0.3, address: "[2001:2::3]"}
defaults: {client: a, server: b}
scenarios:
  - {name: rr, traffic: tcp_rr}
)");
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    CHECK(p->hosts[0].address == "2001:2::1");
    CHECK(p->hosts[1].ssh->host == "2001:2::2");
    CHECK(p->hosts[1].address == "2001:2::2"); // the ssh host, without brackets
    CHECK(p->hosts[2].address == "2001:2::3");

    auto bad = load_plan("v6.yaml", R"(version: 1
hosts:
  a: {address: "[2001:2::1]:5201"}
scenarios:
  - {name: rr, traffic: tcp_rr}
)");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().text == "v6.yaml:3:16: address: '[2001:2::1]:5201': a data-plane address has no port "
                              "(the agents pick the ports); write 2001:2::1\n"
                              "  a: {address: \"[2001:2::1]:5201\"}\n"
                              "               ^\n");
}
