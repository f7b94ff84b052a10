// IPv6 data plane end to end: namespace hosts reached over SSH (IPv4), whose `address:` is their
// IPv6 address from the benchmarking prefix (2001:2:0:<B>::<i>, tests/netns). Every traffic kind,
// TLS in user space (this kernel may have no TLS ULP) and a proxy hop run over it; `check` passes.
#include "e2e_util.hpp"

#include <fmt/format.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;

namespace {

/// Skips (true) when the fixture's hosts have no IPv6 address (a kernel without IPv6).
bool skip_without_ipv6(const netns_hosts& f) {
    for (const auto& h : f.hosts())
        if (h.address6.empty()) {
            kp::test::skip("the namespace hosts have no IPv6 address (kernel without IPv6?)");
            return true;
        }
    return false;
}

/// Hosts a, b (and p with three hosts) over SSH, with their IPv6 addresses as data plane; b's
/// written in brackets, as a user may.
std::string v6_plan(const netns_hosts& f, const std::string& scenarios) {
    std::string hosts;
    const char* names[] = {"a", "b", "p"};
    for (std::size_t i = 0; i < f.hosts().size() && i < 3; ++i) {
        const auto& h = f.hosts()[i];
        std::string address = i == 1 ? "[" + h.address6 + "]" : h.address6;
        hosts += fmt::format("  {}: {{ssh: \"root@{}\", identity: \"{}\", address: \"{}\"}}\n", names[i],
                             h.address, f.key(), address);
    }
    return fmt::format(R"(version: 1
name: e2e-ipv6
hosts:
{}settings: {{connect_timeout: 5s}}
defaults: {{client: a, server: b, duration: 400ms, warmup: 100ms}}
scenarios:
{})",
                       hosts, scenarios);
}

double metric(const json& inst, const std::string& name) {
    const auto& m = inst["aggregate"]["metrics"];
    REQUIRE_MESSAGE(m.contains(name), inst["id"] << " has no " << name);
    return m[name]["value"].get<double>();
}

} // namespace

TEST_SUITE_BEGIN("e2e-ipv6");

TEST_CASE("e2e: every traffic kind and TLS over IPv6 between two namespace hosts") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    if (skip_without_ipv6(f)) return;
    scratch s;
    auto plan = s.write("plan.yaml", v6_plan(f, R"(  - {name: stream, traffic: tcp_stream}
  - {name: rr, traffic: tcp_rr, request_size: 64, response_size: 1KiB}
  - {name: crr, traffic: tcp_crr}
  - {name: udp-stream, traffic: udp_stream, write_size: 1200, rate: 10k/s}
  - {name: udp-rr, traffic: udp_rr, rate: 5k/s}
  - {name: tls-rr, traffic: tcp_rr, tls: openssl}
  - {name: tls-stream, traffic: tcp_stream, tls: openssl, direction: reverse}
)"));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 90s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["plan"]["model"]["hosts"]["a"]["address"] == f.hosts()[0].address6);
    CHECK(doc["plan"]["model"]["hosts"]["b"]["address"] == f.hosts()[1].address6); // brackets gone
    for (const auto& inst : doc["instances"]) {
        INFO(inst["id"].get<std::string>());
        CHECK(inst["status"] == "ok");
    }
    CHECK(metric(instance_of(doc, "stream"), "throughput_bps") > 0);
    CHECK(metric(instance_of(doc, "rr"), "transactions_per_s") > 0);
    CHECK(metric(instance_of(doc, "crr"), "connections_per_s") > 0);
    // UDP over IPv6: datagrams flow and loss is measured (nothing drops them here).
    const auto& us = instance_of(doc, "udp-stream");
    CHECK(metric(us, "throughput_bps") > 0);
    CHECK(metric(us, "loss_ratio") < 0.05);
    CHECK(us["repeats"][0]["server"]["flow_totals"]["datagrams_received"].get<double>() > 0);
    CHECK(metric(instance_of(doc, "udp-rr"), "transactions_per_s") > 0);
    CHECK(metric(instance_of(doc, "udp-rr"), "loss_ratio") < 0.05);
    // TLS in user space over IPv6: the path each flow ran is recorded.
    for (std::string id : {"tls-rr", "tls-stream"}) {
        const auto& inst = instance_of(doc, id);
        CHECK(metric(inst, id == "tls-rr" ? "transactions_per_s" : "throughput_bps") > 0);
        for (const char* side : {"client", "server"})
            for (const auto& fl : inst["repeats"][0][side]["flows"]) {
                INFO(id << " " << side << ": " << fl["tls"].dump());
                CHECK(fl["tls"]["tx_path"] == "user");
                CHECK(fl["tls"]["rx_path"] == "user");
                CHECK(fl["tls"]["version"] == "TLSv1.3");
            }
    }
    // Each address is the one the host's own agent lists on eth0 (its namespace's veth end).
    for (std::size_t i = 0; i < 2; ++i) {
        bool found = false;
        for (const auto& itf : doc["hosts"][i == 0 ? "a" : "b"]["capabilities"]["interfaces"])
            for (const auto& a : itf["addresses"])
                found = found || (itf["name"] == "eth0" && a == f.hosts()[i].address6);
        CHECK_MESSAGE(found, "host " << i << " lists " << f.hosts()[i].address6 << " on eth0");
    }
}

TEST_CASE("e2e: a proxy hop over IPv6 relays tcp_rr and end-to-end TLS; check probes the route") {
    if (skip_without_netns()) return;
    netns_hosts f(3);
    if (skip_without_ipv6(f)) return;
    scratch s;
    auto plan = s.write("plan.yaml", v6_plan(f, R"(  - {name: via-rr, traffic: tcp_rr, via: [p]}
  - {name: via-tls, traffic: tcp_rr, via: [p], tls: openssl}
  - {name: direct-udp, traffic: udp_rr, rate: 2k/s}
)"));
    auto c = run_kperf({"check", plan.string(), "--known-hosts", f.known_hosts()}, s / "check.log", 60s);
    INFO(c.log);
    CHECK(c.code == 0);
    for (std::size_t i = 0; i < 3; ++i)
        CHECK(contains(c.log, fmt::format("data address: {} (on eth0)", f.hosts()[i].address6)));
    CHECK(contains(c.log, fmt::format("pair a -> b via p (p {}, b {}): tcp_rr ok, ", f.hosts()[2].address6,
                                      f.hosts()[1].address6)));
    CHECK(contains(c.log, fmt::format("pair a -> b ({}): udp_rr ok, ", f.hosts()[1].address6)));

    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 90s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    for (std::string id : {"via-rr", "via-tls"}) {
        const auto& inst = instance_of(doc, id);
        INFO(id);
        CHECK(inst["status"] == "ok");
        CHECK(metric(inst, "transactions_per_s") > 0);
        REQUIRE(inst["hops"].size() == 1);
        CHECK(inst["hops"][0]["host"] == "p");
    }
    for (const auto& fl : instance_of(doc, "via-tls")["repeats"][0]["client"]["flows"])
        CHECK(fl["tls"]["tx_path"] == "user");
    CHECK(metric(instance_of(doc, "direct-udp"), "transactions_per_s") > 0);
}

TEST_SUITE_END();
