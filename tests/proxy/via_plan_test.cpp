// The plan form of proxy chains: `via:`, `compare_direct:`, `placement: {via: ...}`, their
// located errors, dry-run output and the report figures derived from hops.
#include <doctest/doctest.h>

#include <string>

#include "runner/cli/dry_run.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"
#include "runner/results/proxy_record.hpp"
#include "runner/results/record.hpp"

using namespace kp::runner;

namespace {

constexpr std::string_view head = "version: 1\nhosts:\n  a: {}\n  b: {}\n  proxy: {}\n  p2: {}\n"
                                  "defaults: {client: a, server: b}\nscenarios:\n";

std::string errors_of(std::string_view body) {
    auto p = load_plan("x.yaml", std::string(head) + std::string(body));
    REQUIRE_FALSE(p.has_value());
    return p.error().text;
}

std::vector<instance> instances_of(std::string_view body) {
    auto p = load_plan("x.yaml", std::string(head) + std::string(body));
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return expand(*p);
}

} // namespace

TEST_CASE("plan: via names proxy hosts in order, with their placement and compare_direct") {
    auto in = instances_of("  - {name: rr, traffic: tcp_rr, via: [proxy, p2], compare_direct: true, "
                           "placement: {via: rx+1}}\n");
    REQUIRE(in.size() == 1);
    CHECK(in[0].via == std::vector<std::string>{"proxy", "p2"});
    CHECK(in[0].compare_direct);
    CHECK(in[0].via_placement.how == kp::engine::placement_rule::kind::rx);
    CHECK(in[0].via_placement.offset == 1);
    CHECK(in[0].for_via().placement.offset == 1);
    CHECK(in[0].for_side(side::client).placement.how == kp::engine::placement_rule::kind::any);
    // One host may be written without a list.
    in = instances_of("  - {name: s, traffic: tcp_stream, via: proxy}\n");
    CHECK(in[0].via == std::vector<std::string>{"proxy"});
    CHECK_FALSE(in[0].compare_direct);
}

TEST_CASE("plan: via from defaults applies to TCP scenarios and skips UDP ones") {
    auto p = load_plan("x.yaml", "version: 1\nhosts: {a: {}, b: {}, p: {}}\n"
                                 "defaults: {client: a, server: b, via: [p]}\nscenarios:\n"
                                 "  - {name: rr, traffic: tcp_rr}\n  - {name: u, traffic: udp_rr}\n");
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    auto in = expand(*p);
    CHECK(in[0].via.size() == 1);
    CHECK(in[1].via.empty());
}

TEST_CASE("plan: rejects an unknown via host with a suggestion") {
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, via: [proxi]}\n") ==
          "x.yaml:9:39: undefined via host 'proxi', did you mean 'proxy'?\n"
          "  - {name: rr, traffic: tcp_rr, via: [proxi]}\n"
          "                                      ^\n");
}

TEST_CASE("plan: rejects via for UDP traffic") {
    CHECK(errors_of("  - {name: u, traffic: udp_stream, via: [proxy]}\n") ==
          "x.yaml:9:41: 'via' does not apply to udp_stream: a forwarder relays TCP connections (it applies "
          "to tcp_stream, tcp_rr or tcp_crr)\n"
          "  - {name: u, traffic: udp_stream, via: [proxy]}\n"
          "                                        ^\n");
}

TEST_CASE("plan: rejects a via host that is the client or the server") {
    auto e = errors_of("  - {name: rr, traffic: tcp_rr, via: [proxy, b]}\n");
    CHECK(e == "x.yaml:9:46: via host 'b' is this scenario's server; a proxy must be another host\n"
               "  - {name: rr, traffic: tcp_rr, via: [proxy, b]}\n"
               "                                             ^\n");
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, via: [a]}\n")
              .find("via host 'a' is this scenario's client") != std::string::npos);
}

TEST_CASE("plan: compare_direct needs via and a boolean; via needs hosts") {
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, compare_direct: true}\n")
              .starts_with("x.yaml:9:49: compare_direct needs 'via' (a proxy chain to compare with)\n"));
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, via: [proxy], compare_direct: yes}\n")
              .starts_with("x.yaml:9:63: compare_direct: expected true or false, got 'yes'\n"));
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, via: []}\n")
              .starts_with("x.yaml:9:38: via: expected a list of hosts such as [p], got []\n"));
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, placement: {via: rx+}}\n")
              .find("placement.via: expected any, rx, rx+N, rx-N or a CPU list") != std::string::npos);
    CHECK(errors_of("  - {name: rr, traffic: tcp_rr, vai: [proxy]}\n").find("did you mean 'via'?") !=
          std::string::npos);
}

TEST_CASE("dry run: shows the chain and the forwarders' placement") {
    auto p = load_plan("x.yaml", std::string(head) +
                                     "  - {name: rr, traffic: tcp_rr, via: [proxy], compare_direct: true}\n");
    REQUIRE(p.has_value());
    auto text = format_dry_run(*p);
    CHECK(text.find("    via[0]: proxy (this machine, address 127.0.0.1), forwarder placement any\n") !=
          std::string::npos);
    CHECK(text.find("    chain: a -> proxy -> b; compare_direct: each repeat also runs client -> server\n") !=
          std::string::npos);
}

TEST_CASE("report: hops average CPU over repeats; service demand per transaction; added latency") {
    std::vector<repeat_record> reps(2);
    for (std::size_t i = 0; i < 2; ++i) {
        auto& r = reps[i];
        r.client.seconds = 1;
        r.metrics[static_cast<std::size_t>(metric::transactions_per_s)] = 1000;
        kp::engine::side_result hop;
        hop.cpu_total.user = 0.1 * double(i + 1); // 0.1 s, 0.2 s
        hop.rusage_user_s = 0.05;
        hop.relay = kp::engine::relay_stats{2, 6400, 6400, 0, {}};
        r.hops.push_back(hop);
    }
    std::vector<std::string> via{"p"};
    auto hops = summarize_hops(kp::engine::traffic::tcp_rr, via, reps);
    REQUIRE(hops.size() == 1);
    CHECK(hops[0].host == "p");
    CHECK(hops[0].role == "proxy");
    CHECK(hops[0].cpu_s == doctest::Approx(0.15));
    CHECK(hops[0].process_cpu_s == doctest::Approx(0.05));
    CHECK(*hops[0].service_demand == doctest::Approx(150)); // mean of 100 and 200 us per transaction
    CHECK(hops[0].connections == 4);
    CHECK(hops[0].bytes_forward == 12800);
    CHECK(*proxy_cpu_s(hops) == doctest::Approx(0.15));
    CHECK_FALSE(proxy_cpu_s({}).has_value());
}
