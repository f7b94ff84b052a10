#include <doctest/doctest.h>

#include "remote/ssh/session.hpp"
#include "remote/ssh/transport.hpp"

using kp::remote::parse_ssh_target;

TEST_CASE("ssh target: parses user@host and user@host:port") {
    auto t = parse_ssh_target("root@198.18.0.2");
    REQUIRE(t.has_value());
    CHECK(t->user == "root");
    CHECK(t->host == "198.18.0.2");
    CHECK(t->port == 0); // not written: ssh_config's Port, else 22
    CHECK(t->str() == "root@198.18.0.2");

    auto p = parse_ssh_target("bench@host-b.example:2222");
    REQUIRE(p.has_value());
    CHECK(p->user == "bench");
    CHECK(p->host == "host-b.example");
    CHECK(p->port == 2222);
}

TEST_CASE("ssh target: parses bracketed IPv6 with and without port") {
    auto t = parse_ssh_target("root@[2001:db8::1]:2200");
    REQUIRE(t.has_value());
    CHECK(t->host == "2001:db8::1");
    CHECK(t->port == 2200);
    CHECK(t->str() == "root@[2001:db8::1]:2200");
    auto u = parse_ssh_target("root@[::1]");
    REQUIRE(u.has_value());
    CHECK(u->host == "::1");
    CHECK(u->port == 0);
}

TEST_CASE("ssh target: without user or port leaves them to ssh_config") {
    auto t = parse_ssh_target("198.18.0.2:22");
    REQUIRE(t.has_value());
    CHECK(t->user.empty());
    CHECK(t->host == "198.18.0.2");
    CHECK(t->str() == "198.18.0.2:22");
    auto alias = parse_ssh_target("h1");
    REQUIRE(alias.has_value());
    CHECK(alias->port == 0);
    CHECK(alias->str() == "h1");
}

TEST_CASE("ssh target: rejects malformed targets with what was expected") {
    auto msg = [](std::string_view text) {
        auto r = parse_ssh_target(text);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind == kp::error_kind::usage);
        return r.error().message;
    };
    CHECK(msg("") == "ssh target '': expected user@host[:port]");
    CHECK(msg("root@") == "ssh target 'root@': missing host, expected user@host[:port]");
    CHECK(msg("@h") == "ssh target '@h': empty user before '@', expected user@host[:port]");
    CHECK(msg("root@h:") == "ssh target 'root@h:': empty port after ':'");
    CHECK(msg("root@h:ssh") == "ssh target 'root@h:ssh': port 'ssh' is not a number in 1-65535");
    CHECK(msg("root@h:70000") == "ssh target 'root@h:70000': port '70000' is not a number in 1-65535");
    CHECK(msg("root@h:0") == "ssh target 'root@h:0': port '0' is not a number in 1-65535");
    CHECK(msg("root@2001:db8::1") ==
          "ssh target 'root@2001:db8::1': write an IPv6 address in brackets, as root@[2001:db8::1]:22");
    CHECK(msg("root@[::1") == "ssh target 'root@[::1': missing ']' after the IPv6 address");
    CHECK(msg("root@[::1]22") ==
          "ssh target 'root@[::1]22': unexpected '22' after ']', expected user@host[:port]");
    CHECK(msg("root@a b") == "ssh target 'root@a b': contains whitespace, expected user@host[:port]");
}

TEST_CASE("ssh: shell_quote survives quotes") {
    CHECK(kp::remote::shell_quote("a b") == "'a b'");
    CHECK(kp::remote::shell_quote("it's") == "'it'\\''s'");
}
