#include <doctest/doctest.h>

#include <string>

#include "plan/plan_errors.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

namespace {

/// The formatted errors of a plan that must not load.
constexpr std::string_view head = "version: 1\nhosts:\n  me: {}\nscenarios:\n";

std::string with_scenario(std::string_view body) {
    return std::string(head) + std::string(body);
}

} // namespace

TEST_CASE("plan: loads a local plan with typed values and defaults") {
    auto p = load_plan("plans/q.yaml", R"(version: 1
hosts:
  me: {}
  b: {ssh: "alice@198.18.0.2:2222", identity: /k}
defaults: {duration: 2s, client: me}
scenarios:
  - name: bulk
    traffic: tcp_stream
    server: b
    write_size: 4KiB
    rate: 10Gbit/s
)");
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    CHECK(p->name == "q");
    REQUIRE(p->hosts.size() == 2);
    CHECK(p->hosts[0].local());
    CHECK(p->hosts[0].address == "127.0.0.1");
    REQUIRE(p->hosts[1].ssh);
    CHECK(p->hosts[1].ssh->user == "alice");
    CHECK(p->hosts[1].ssh->host == "198.18.0.2");
    CHECK(p->hosts[1].ssh->port == 2222);
    CHECK(p->hosts[1].address == "198.18.0.2");
    CHECK(p->hosts[1].identity == "/k");
    const setting* ws = p->scenarios[0].find(param::write_size);
    REQUIRE(ws);
    CHECK(std::get<std::uint64_t>(ws->value) == 4096);
    CHECK(ws->loc == source_loc{10, 17});
    CHECK(ws->text == "4KiB");
}

TEST_CASE("plan: rejects unknown key with did-you-mean") {
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_stream\n    paralellism: 4\n"),
                    "plans/x.yaml") == "plans/x.yaml:7:5: unknown key 'paralellism'\n"
                                       "    paralellism: 4\n"
                                       "    ^\n");
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_stream\n    flos: 4\n")) ==
          "x.yaml:7:5: unknown key 'flos', did you mean 'flows'?\n"
          "    flos: 4\n"
          "    ^\n");
    CHECK(errors_of("version: 1\nhost:\n  me: {}\nscenarios: []\n") ==
          "x.yaml:1:1: missing 'hosts' (e.g. hosts: {me: {}} for this machine)\n"
          "version: 1\n"
          "^\n"
          "x.yaml:2:1: unknown key 'host', did you mean 'hosts'?\n"
          "host:\n"
          "^\n"
          "x.yaml:4:12: scenarios: expected at least one scenario\n"
          "scenarios: []\n"
          "           ^\n");
}

TEST_CASE("plan: three mistakes give three located errors") {
    CHECK(
        errors_of(with_scenario("  - name: s\n"
                                "    traffic: tcp_stream\n"
                                "    write_size: 4KB/s\n"
                                "    duration: 10\n"
                                "    server: c\n")) ==
        "x.yaml:7:17: write_size: expected a size such as 64, 4KiB, 1MiB or 1MB, got '4KB/s'\n"
        "    write_size: 4KB/s\n"
        "                ^\n"
        "x.yaml:8:15: duration: expected a duration with a unit (ns, us, ms, s, m, h) such as 500ms, 10s or "
        "2m, got '10'\n"
        "    duration: 10\n"
        "              ^\n"
        "x.yaml:9:13: undefined host 'c' (hosts are: me)\n"
        "    server: c\n"
        "            ^\n");
}

TEST_CASE("plan: unit errors say what was expected") {
    auto one = [](std::string_view line) {
        auto text =
            with_scenario(std::string("  - name: s\n    traffic: tcp_rr\n    ") + std::string(line) + "\n");
        auto out = errors_of(text);
        return out.substr(0, out.find('\n'));
    };
    CHECK(one("rate: 20k") == "x.yaml:7:11: rate: expected a rate such as unlimited, 20k/s, 2M/s, 500Mbit/s "
                              "or 10Gbit/s, got '20k'");
    CHECK(one("rate: 0/s") ==
          "x.yaml:7:11: rate: rate '0/s' must be positive; write 'unlimited' for no limit");
    CHECK(one("warmup: 2 s") ==
          "x.yaml:7:13: warmup: expected a duration with a unit (ns, us, ms, s, m, h) such "
          "as 500ms, 10s or 2m, got '2 s'");
    CHECK(one("request_size: 1.5KiB") ==
          "x.yaml:7:19: request_size: expected a size such as 64, 4KiB, 1MiB or 1MB, got '1.5KiB'");
    CHECK(one("request_size: 0") ==
          "x.yaml:7:19: request_size: request_size must be from 1 to 64MiB, got '0'");
    CHECK(one("flows: -1") == "x.yaml:7:12: flows: expected a whole number from 0 to 100000, got '-1'");
    CHECK(one("in_flight: 100000") == "x.yaml:7:16: in_flight: 100000 is too large: at most 65536");
    CHECK(one("verify: yes") == "x.yaml:7:13: verify: expected true or false, got 'yes'");
    CHECK(one("duration: 0s") == "x.yaml:7:15: duration: must be positive, got '0s'");
    CHECK(one("tls: ktsl") ==
          "x.yaml:7:10: tls: expected none, openssl, ktls or auto, got 'ktsl', did you mean 'ktls'?");
    CHECK(one("cipher: aes-128") == "x.yaml:7:13: cipher: expected aes-128-gcm, aes-256-gcm or "
                                    "chacha20-poly1305, got 'aes-128', did you mean 'aes-128-gcm'?");
    CHECK(one("flows: [1, 2]") == "x.yaml:7:12: flows: expected a single value, got a list");
    CHECK(one("placement: {server: rx+x}") == "x.yaml:7:25: placement.server: expected any, rx, rx+N, rx-N "
                                              "or a CPU list such as 0-3,8, got 'rx+x'");
    CHECK(one("expect: {latency_p99: \"< 800\"}") == "x.yaml:7:27: latency_p99: expected a duration with a "
                                                     "unit (ns, us, ms, s, m, h) such as 500ms, 10s or "
                                                     "2m, got '800'");
    CHECK(
        one("expect: {latency_p99: \"800us\"}") ==
        "x.yaml:7:27: latency_p99: expected a comparison (<, <=, >, >=) and a bound such as \"< 800us\", got "
        "'800us'");
    CHECK(one("expect: {throughput_bps: \">= 9Gbit\"}") ==
          "x.yaml:7:30: throughput_bps: expected a bit rate such as 9Gbit/s or 500Mbit/s, got '9Gbit'");
    CHECK(one("until: {ci_width: 2}") ==
          "x.yaml:7:23: until.ci_width: expected a percentage such as 2% or 0.5%, got '2'");
}

TEST_CASE("plan: a loss ratio bound lies from 0% to 100%") {
    auto text = [](std::string_view bound) {
        return with_scenario("  - name: s\n    traffic: udp_rr\n    expect: {loss_ratio: \"" + std::string(bound) +
                             "\"}\n");
    };
    auto one = [&](std::string_view bound) {
        auto out = errors_of(text(bound));
        return out.substr(0, out.find('\n'));
    };
    CHECK(one("< 150%") ==
          "x.yaml:7:26: loss_ratio: expected a percentage from 0% to 100% or a ratio from 0 to 1, got '150%'");
    CHECK(one("> 100.5%") ==
          "x.yaml:7:26: loss_ratio: expected a percentage from 0% to 100% or a ratio from 0 to 1, got '100.5%'");
    CHECK(one("< 1.5") ==
          "x.yaml:7:26: loss_ratio: expected a percentage such as 0.1% or a ratio from 0 to 1, got '1.5'");
    CHECK(load_plan("x.yaml", text("< 100%")).has_value());
    CHECK(load_plan("x.yaml", text("< 0.1%")).has_value());
}

TEST_CASE("plan: unknown traffic kind and metric get did-you-mean") {
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_r\n")) ==
          "x.yaml:6:14: traffic: expected tcp_stream, tcp_rr, tcp_crr, udp_stream or udp_rr, got 'tcp_r', "
          "did you "
          "mean 'tcp_rr'?\n"
          "    traffic: tcp_r\n"
          "             ^\n");
    CHECK(errors_of(
              with_scenario("  - name: s\n    traffic: tcp_rr\n    expect: {latency_p99.9: \"< 1ms\"}\n")) ==
          "x.yaml:7:14: unknown metric 'latency_p99.9', did you mean 'latency_p999'?\n"
          "    expect: {latency_p99.9: \"< 1ms\"}\n"
          "             ^\n");
}

TEST_CASE("plan: names an undefined host, with did-you-mean") {
    auto text = R"(version: 1
hosts:
  alpha: {ssh: root@198.18.0.1}
  beta: {ssh: root@198.18.0.2}
scenarios:
  - name: s
    traffic: tcp_stream
    client: alpah
    server: gamma
)";
    CHECK(errors_of(text) == "x.yaml:8:13: undefined host 'alpah', did you mean 'alpha'?\n"
                             "    client: alpah\n"
                             "            ^\n"
                             "x.yaml:9:13: undefined host 'gamma' (hosts are: alpha, beta)\n"
                             "    server: gamma\n"
                             "            ^\n");
}

TEST_CASE("plan: a scenario needs hosts when the plan has several") {
    auto text = "version: 1\nhosts: {a: {}, b: {}}\nscenarios:\n  - {name: s, traffic: tcp_rr}\n";
    CHECK(errors_of(text) == "x.yaml:4:5: scenario 's' has no 'client' (expected one of the hosts: a, b)\n"
                             "  - {name: s, traffic: tcp_rr}\n"
                             "    ^\n"
                             "x.yaml:4:5: scenario 's' has no 'server' (expected one of the hosts: a, b)\n"
                             "  - {name: s, traffic: tcp_rr}\n"
                             "    ^\n");
}

TEST_CASE("plan: reports a duplicate scenario name") {
    CHECK(errors_of(
              with_scenario("  - name: s\n    traffic: tcp_rr\n  - name: s\n    traffic: tcp_stream\n")) ==
          "x.yaml:7:5: duplicate scenario name 's' (first at line 5)\n"
          "  - name: s\n"
          "    ^\n");
}

TEST_CASE("plan: reports a duplicate key") {
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_rr\n    flows: 1\n    flows: 2\n")) ==
          "x.yaml:8:5: duplicate key 'flows' (first at line 7)\n"
          "    flows: 2\n"
          "    ^\n");
}

TEST_CASE("plan: never holds a password") {
    auto text = "version: 1\nhosts:\n  a: {ssh: root@198.18.0.1, password: hunter2}\nscenarios:\n"
                "  - {name: s, traffic: tcp_rr}\n";
    CHECK(errors_of(text) ==
          "x.yaml:3:29: 'password' is not allowed: plans never hold passwords; use 'identity' "
          "(an SSH key file) or ssh-agent\n"
          "  a: {ssh: root@198.18.0.1, password: hunter2}\n"
          "                            ^\n");
}

TEST_CASE("plan: rejects a parameter that does not apply to the traffic kind") {
    CHECK(
        errors_of(with_scenario("  - name: s\n    traffic: tcp_stream\n    request_size: 64\n")) ==
        "x.yaml:7:19: 'request_size' does not apply to tcp_stream (it applies to tcp_rr, tcp_crr or udp_rr)\n"
        "    request_size: 64\n"
        "                  ^\n");
    // From defaults, a parameter applies only where it can: no error.
    auto ok = load_plan("x.yaml", "version: 1\nhosts: {me: {}}\ndefaults: {request_size: 1KiB}\nscenarios:\n"
                                  "  - {name: s, traffic: tcp_stream}\n");
    CHECK(ok.has_value());
}

TEST_CASE("plan: rejects a UDP datagram larger than 65507 bytes and poisson without a rate") {
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: udp_stream\n    write_size: 64KiB\n"
                                  "    arrival: poisson\n")) ==
          "x.yaml:7:17: write_size: a UDP datagram carries at most 65507 bytes, got '64KiB'\n"
          "    write_size: 64KiB\n"
          "                ^\n"
          "x.yaml:8:14: arrival: poisson needs a rate; this scenario's rate is unlimited\n"
          "    arrival: poisson\n"
          "             ^\n");
}

TEST_CASE("plan: YAML syntax errors keep yaml-cpp's position") {
    CHECK(errors_of("version: 1\nhosts: {me: {}\nscenarios: []\n") ==
          "x.yaml:3:1: YAML syntax error: end of map flow not found\n"
          "scenarios: []\n"
          "^\n");
}

TEST_CASE("plan: version must be 1") {
    CHECK(errors_of("version: 2\nhosts: {me: {}}\nscenarios:\n  - {name: s, traffic: tcp_rr}\n") ==
          "x.yaml:1:10: version: expected 1 (the only plan version), got '2'\n"
          "version: 2\n"
          "         ^\n");
}

TEST_CASE("plan: stops after the error cap and says so") {
    std::string text(head);
    text += "  - name: s\n    traffic: tcp_rr\n";
    for (int i = 0; i < 30; ++i)
        text += "    bogus" + std::to_string(i) + ": 1\n";
    auto p = load_plan("x.yaml", text);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().diagnostics.size() == diagnostics::default_cap);
    CHECK(p.error().dropped == 10);
    CHECK(p.error().text.ends_with("x.yaml: too many errors (10 more not shown)\n"));
}

TEST_CASE("plan: caret keeps tabs so it lines up") {
    diagnostic d{{1, 3}, "m"};
    CHECK(format_diagnostic("f", "\tab\n", d) == "f:1:3: m\n\tab\n\t ^\n");
}

TEST_CASE("plan: an expectation on a metric the traffic kind never measures is refused at its key") {
    CHECK(
        errors_of(with_scenario("  - name: s\n    traffic: tcp_rr\n    expect: {loss_ratio: \"< 1%\"}\n")) ==
        "x.yaml:7:14: expect: tcp_rr does not measure loss_ratio (scenario 's'; tcp_rr measures "
        "throughput_bps, transactions_per_s, latency_p50, latency_p90, latency_p99, latency_p999, "
        "latency_p9999, latency_min, latency_max, latency_mean, retransmits, client_cpu_s, server_cpu_s, "
        "client_service_demand, server_service_demand, fairness, send_lateness_p99), did you mean 'retransmits'?\n"
        "    expect: {loss_ratio: \"< 1%\"}\n"
        "             ^\n");
    // A matrix over traffic checks every instance: udp_rr measures latency, udp_stream does not.
    CHECK(errors_of(with_scenario("  - name: m\n    matrix: {traffic: [udp_rr, udp_stream]}\n"
                                  "    expect: {latency_p99: \"< 1ms\"}\n")) ==
          "x.yaml:7:14: expect: udp_stream does not measure latency_p99 (scenario 'm'; udp_stream measures "
          "throughput_bps, loss_ratio, client_cpu_s, server_cpu_s, client_service_demand, "
          "server_service_demand, fairness, send_lateness_p99)\n"
          "    expect: {latency_p99: \"< 1ms\"}\n"
          "             ^\n");
    // From `defaults:` too: the error is at the defaults key and names the scenario.
    CHECK(errors_of("version: 1\nhosts:\n  me: {}\ndefaults:\n  expect: {connections_per_s: \"> 1\"}\n"
                    "scenarios:\n  - name: s\n    traffic: tcp_rr\n  - name: c\n    traffic: tcp_crr\n")
              .starts_with("x.yaml:5:12: expect: tcp_rr does not measure connections_per_s (scenario 's'; "));
    // search.slo, with the `loss` spelling: a peak search on tcp_rr cannot see loss.
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_rr\n"
                                  "    search: {rate: [1k/s, 10k/s], slo: {loss: \"< 1%\"}}\n"))
              .starts_with("x.yaml:7:41: search.slo: tcp_rr does not measure loss_ratio (scenario 's'; "));
    // What the kind measures loads.
    CHECK(load_plan("x.yaml",
                    with_scenario("  - name: s\n    traffic: udp_rr\n    expect: {loss_ratio: \"< 1%\", "
                                  "latency_p99: \"< 1ms\"}\n"))
              .has_value());
}

TEST_CASE("plan: gate: sets compare's tolerances per scenario, over the defaults'") {
    auto p = load_plan("x.yaml", R"(version: 1
hosts: {me: {}}
defaults: {client: me, server: me, gate: {throughput_bps: 3%, latency_p99: 20%}}
scenarios:
  - name: bulk
    traffic: tcp_stream
    gate: {throughput_bps: 5%}
  - name: rpc
    traffic: tcp_rr
    gate: {latency_p99: off}
)");
    REQUIRE(p);
    auto in = expand(*p);
    REQUIRE(in.size() == 2);
    auto tol = [](const instance& i, metric m) -> std::optional<std::optional<double>> {
        for (const auto& g : i.gate)
            if (g.which == m) return g.tolerance;
        return std::nullopt;
    };
    CHECK(*tol(in[0], metric::throughput_bps) == doctest::Approx(0.05));
    CHECK(*tol(in[0], metric::latency_p99) == doctest::Approx(0.20));
    CHECK(*tol(in[1], metric::throughput_bps) == doctest::Approx(0.03));
    REQUIRE(tol(in[1], metric::latency_p99).has_value());
    CHECK_FALSE(tol(in[1], metric::latency_p99)->has_value()); // off
}

TEST_CASE("plan: gate: errors are located, with did-you-mean, and a tolerance needs its unit") {
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_rr\n    gate: {transactions_per_s: 5}\n")) ==
          "x.yaml:7:32: gate: transactions_per_s: expected a tolerance such as 5% or 0.5%, or off; got '5'\n"
          "    gate: {transactions_per_s: 5}\n"
          "                               ^\n");
    CHECK(errors_of(with_scenario("  - name: s\n    traffic: tcp_rr\n    gate: {latncy_p99: 5%}\n")) ==
          "x.yaml:7:12: gate: unknown metric 'latncy_p99', did you mean 'latency_p99'?\n"
          "    gate: {latncy_p99: 5%}\n"
          "           ^\n");
}
