#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "engine/session/session_core.hpp"
#include "engine/traffic/job_defaults.hpp"
#include "runner/cli/dry_run.hpp"
#include "runner/plan/expand.hpp"

using namespace kp::runner;
using namespace std::chrono_literals;

namespace {
plan must_load(std::string_view text) {
    auto p = load_plan("x.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return *p;
}
constexpr std::string_view two_hosts = R"(version: 1
hosts:
  a: {ssh: root@198.18.0.1, address: 198.18.0.1}
  b: {ssh: "root@198.18.0.2:22"}
defaults: {client: a, server: b, duration: 10s, warmup: 2s, repeat: 3}
scenarios:
)";
} // namespace

TEST_CASE("expand: matrix is a cartesian product with stable readable ids") {
    auto p = must_load(std::string(two_hosts) + R"(  - name: bulk
    traffic: tcp_stream
  - name: rpc
    traffic: tcp_rr
    request_size: 64
    response_size: 4KiB
    matrix: {in_flight: [1, 128], flows: [1, 8]}
)");
    auto in = expand(p);
    REQUIRE(in.size() == 5);
    CHECK(in[0].id == "bulk");
    CHECK(in[1].id == "rpc/in_flight=1,flows=1");
    CHECK(in[2].id == "rpc/in_flight=1,flows=8");
    CHECK(in[3].id == "rpc/in_flight=128,flows=1");
    CHECK(in[4].id == "rpc/in_flight=128,flows=8");
    CHECK(in[4].scenario == "rpc");
    CHECK(in[4].job.in_flight == 128);
    CHECK(in[4].job.flows == 8);
    CHECK(in[4].job.kind == kp::engine::traffic::tcp_rr);
    CHECK(in[4].job.response_size == 4096);
    CHECK(in[4].job.id == "rpc/in_flight=128,flows=8");
    CHECK(in[4].matrix ==
          std::vector<std::pair<std::string, std::string>>{{"in_flight", "128"}, {"flows", "8"}});
    CHECK(in[4].client == "a");
    CHECK(in[4].server == "b");
    CHECK(in[4].repeat == 3);
    CHECK(in[4].job.duration == 10s);
    CHECK(in[4].job.warmup == 2s);
}

TEST_CASE("expand: sizes as written appear in ids; duplicates in a matrix are errors") {
    auto p = must_load(std::string(two_hosts) +
                       "  - {name: s, traffic: tcp_stream, matrix: {write_size: [4KiB, 1MB]}}\n");
    auto in = expand(p);
    REQUIRE(in.size() == 2);
    CHECK(in[0].id == "s/write_size=4KiB");
    CHECK(in[1].job.write_size == 1000000);
    auto bad = load_plan("x.yaml", std::string(two_hosts) +
                                       "  - {name: s, traffic: tcp_stream, flows: 2, matrix: {flows: [1, 1], "
                                       "placement: [rx]}}\n");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().text ==
          "x.yaml:7:66: matrix 'flows': value '1' is listed twice\n"
          "  - {name: s, traffic: tcp_stream, flows: 2, matrix: {flows: [1, 1], placement: [rx]}}\n"
          "                                                                 ^\n"
          "x.yaml:7:70: 'placement' cannot vary in a matrix; only single-valued parameters can\n"
          "  - {name: s, traffic: tcp_stream, flows: 2, matrix: {flows: [1, 1], placement: [rx]}}\n"
          "                                                                     ^\n");
}

TEST_CASE("expand: a key set both directly and in the matrix is an error") {
    auto bad =
        load_plan("x.yaml", std::string(two_hosts) +
                                "  - {name: s, traffic: tcp_stream, flows: 2, matrix: {flows: [1, 4]}}\n");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().diagnostics.at(0).message == "'flows' is set both in the scenario and in its matrix");
}

TEST_CASE("expand: rates become messages per second") {
    auto p =
        must_load(std::string(two_hosts) +
                  R"(  - {name: paced, traffic: tcp_rr, request_size: 1KiB, rate: 20k/s, arrival: poisson}
  - {name: bits, traffic: tcp_stream, write_size: 64KiB, rate: 10Gbit/s, max_pacing_rate: 1Gbit/s}
  - {name: free, traffic: tcp_stream}
)");
    auto in = expand(p);
    REQUIRE(in.size() == 3);
    CHECK(in[0].job.rate == doctest::Approx(20000));
    CHECK(in[0].job.arrivals == kp::engine::arrival::poisson);
    CHECK(in[1].job.rate == doctest::Approx(1e10 / (8.0 * 65536)));
    CHECK(in[1].job.sockopts.max_pacing_rate == 125000000);
    CHECK(in[2].job.rate == 0);
}

TEST_CASE("expand: placement, tls, until and expectations are resolved") {
    auto p = must_load(std::string(two_hosts) + R"(  - name: s
    traffic: tcp_rr
    placement: {client: "0-3,8", server: rx+2, distinct_rx: true}
    tls: {mode: ktls, tx: true, rx: false}
    tls_version: 1.2
    cipher: chacha20-poly1305
    until: {ci_width: 2%, max_repeat: 20}
    expect: {throughput_bps: ">= 9Gbit/s", latency_p99: "< 800us", retransmits: "< 1000"}
    on_error: abort
)");
    auto in = expand(p);
    REQUIRE(in.size() == 1);
    const auto& i = in[0];
    using kind = kp::engine::placement_rule::kind;
    CHECK(i.client_placement.how == kind::cpus);
    CHECK(i.client_placement.cpus == std::vector<int>{0, 1, 2, 3, 8});
    CHECK(i.server_placement.how == kind::rx);
    CHECK(i.server_placement.offset == 2);
    CHECK(i.for_side(side::server).placement.offset == 2);
    CHECK(i.job.distinct_rx);
    CHECK(i.job.tls.mode == kp::engine::tls_mode::ktls);
    CHECK(i.job.tls.ktls_tx);
    CHECK_FALSE(i.job.tls.ktls_rx);
    CHECK(i.job.tls.version == kp::engine::tls_version::v1_2);
    CHECK(i.job.tls.cipher == kp::engine::tls_cipher::chacha20_poly1305);
    REQUIRE(i.until);
    CHECK(i.until->ci_width == doctest::Approx(0.02));
    CHECK(i.until->max_repeat == 20);
    CHECK(i.until->min_repeat == 3);
    REQUIRE(i.expect.size() == 3);
    CHECK(i.expect[0].metric == "throughput_bps");
    CHECK(i.expect[0].op == comparison::ge);
    CHECK(i.expect[0].bound == doctest::Approx(9e9));
    CHECK(i.expect[1].bound == doctest::Approx(800)); // µs
    CHECK(i.expect[2].bound == doctest::Approx(1000));
    CHECK(i.when_failed == on_error::abort_run);
}

TEST_CASE("expand: a single host is the default client and server") {
    auto p = must_load("version: 1\nhosts: {me: {}}\nscenarios:\n  - {name: s, traffic: udp_stream}\n");
    auto in = expand(p);
    REQUIRE(in.size() == 1);
    CHECK(in[0].client == "me");
    CHECK(in[0].server == "me");
    CHECK(in[0].job.write_size == 1472); // UDP default fits a 1500-byte MTU
}

TEST_CASE("expand: too many instances is an error") {
    auto bad =
        load_plan("x.yaml", "version: 1\nhosts: {me: {}}\nscenarios:\n  - name: s\n    traffic: tcp_rr\n"
                            "    matrix:\n      flows: [1,2,3,4,5,6,7,8,9,10]\n"
                            "      in_flight: [1,2,3,4,5,6,7,8,9,10]\n"
                            "      request_size: [1,2,3,4,5,6,7,8,9,10]\n"
                            "      response_size: [1,2,3,4,5,6,7,8,9,10,11]\n");
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().diagnostics.at(0).message ==
          "scenario 's' expands to 11000 instances; a plan may have at most 10000");
}

TEST_CASE("expand: dry run lists ids, hosts and parameters") {
    auto p = must_load(std::string(two_hosts) +
                       "  - {name: rpc, traffic: tcp_rr, matrix: {in_flight: [1, 128]}}\n");
    auto out = format_dry_run(p);
    CHECK(out.starts_with("plan 'x' (x.yaml): 2 instances; dry run, nothing is contacted\n\n"
                          "[1/2] rpc/in_flight=1\n"
                          "    client: a (ssh root@198.18.0.1:22, address 198.18.0.1)\n"
                          "    server: b (ssh root@198.18.0.2:22, address 198.18.0.2)\n"
                          "    traffic: tcp_rr\n"
                          "    flows: 1\n"));
    CHECK(out.find("[2/2] rpc/in_flight=128\n") != std::string::npos);
    CHECK(out.find("    in_flight: 128\n") != std::string::npos);
    CHECK(out.find("    duration: 10s\n") != std::string::npos);
}

TEST_CASE("expand: dry run shows a decimal size in bytes, beside the binary one") {
    auto p = must_load(std::string(two_hosts) +
                       "  - {name: bulk, traffic: tcp_stream, write_size: 64KB, read_size: 64KiB}\n");
    auto out = format_dry_run(p);
    CHECK(out.find("    write_size: 64KB = 64000 B (64KiB would be 65536 B)\n") != std::string::npos);
    CHECK(out.find("    read_size: 64KiB\n") != std::string::npos);
}

TEST_CASE("expand: every plan under plans/ loads and expands") {
    const char* root = std::getenv("KPERF_SOURCE_ROOT");
    REQUIRE(root);
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(root) / "plans")) {
        if (e.path().extension() != ".yaml") continue;
        auto p = load_plan_file(e.path().string());
        CHECK_MESSAGE(p.has_value(), e.path().string() << "\n" << (p ? "" : p.error().text));
        if (p) CHECK_FALSE(expand(*p).empty());
        ++n;
    }
    CHECK(n >= 3);
}

TEST_CASE("expand: a scenario that sets only its traffic runs that kind's default job") {
    for (const auto& row : kp::engine::traffic_table) {
        CAPTURE(row.name);
        auto p = must_load(fmt::format(
            "version: 1\nhosts: {{me: {{}}}}\nscenarios:\n  - {{name: s, traffic: {}}}\n", row.name));
        auto in = expand(p);
        REQUIRE(in.size() == 1);
        const auto& j = in[0].job;
        const auto d = kp::engine::default_job(row.kind);
        CHECK(j.kind == row.kind);
        CHECK(j.write_size == d.write_size);
        CHECK(j.read_size == d.read_size);
        CHECK(j.request_size == d.request_size);
        CHECK(j.response_size == d.response_size);
        CHECK(j.in_flight == d.in_flight);
        CHECK(j.flows == d.flows);
        CHECK(j.workers == d.workers);
        CHECK(j.timeout == d.timeout);
        CHECK(j.duration == d.duration);
        CHECK(j.warmup == d.warmup);
        CHECK(j.tls.mode == d.tls.mode);
        CHECK(kp::engine::validate_job(j).has_value());
    }
}
