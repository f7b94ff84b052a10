#include <doctest/doctest.h>

#include <string>

#include "engine/traffic/traffic.hpp"
#include "runner/plan/params.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;
namespace engine = kp::engine;

namespace {

bool applies(param p, const engine::traffic_info& row) {
    return (info(p).applies_to & mask_of(row.kind)) != 0;
}

} // namespace

TEST_CASE("params: describe lists the descriptor's kinds in table order") {
    std::string expected;
    for (std::size_t i = 0; i < engine::traffic_count; ++i) {
        if (i > 0) expected += i + 1 == engine::traffic_count ? " or " : ", ";
        expected += engine::traffic_table[i].name;
    }
    CHECK(describe(all_traffic) == expected);
    CHECK(describe(all_traffic) == "tcp_stream, tcp_rr, tcp_crr, udp_stream or udp_rr");
    CHECK(info(param::traffic).description == "workload: " + expected);
    CHECK(describe(mask_of(engine::traffic::udp_rr)) == "udp_rr");
    CHECK(describe(mask_of(engine::traffic::tcp_rr) | mask_of(engine::traffic::udp_rr)) ==
          "tcp_rr or udp_rr");
    CHECK(describe(0) == "");
    CHECK(info(param::timeout).description == "udp_rr: a reply later than this is lost");
}

TEST_CASE("params: every kind in the descriptor is a parameter value, and all_traffic is all of them") {
    traffic_mask seen = 0;
    for (const auto& row : engine::traffic_table) {
        CAPTURE(row.name);
        CHECK(name_of(row.kind) == row.name);
        auto v = parse_param(param::traffic, row.name);
        REQUIRE(v.has_value());
        CHECK(std::get<engine::traffic>(*v) == row.kind);
        CHECK(format_param(param::traffic, *v) == row.name);
        seen |= mask_of(row.kind);
    }
    CHECK(seen == all_traffic);
    CHECK(parse_param(param::traffic, "tcp_r").error() ==
          "expected tcp_stream, tcp_rr, tcp_crr, udp_stream or udp_rr, got 'tcp_r', did you mean 'tcp_rr'?");
}

TEST_CASE("params: applicability follows the descriptor's size fields and flags") {
    for (const auto& row : engine::traffic_table) {
        CAPTURE(row.name);
        CHECK(applies(param::write_size, row) == row.uses(engine::uses_write_size));
        CHECK(applies(param::read_size, row) == row.uses(engine::uses_read_size));
        CHECK(applies(param::request_size, row) == row.uses(engine::uses_request_size));
        CHECK(applies(param::response_size, row) == row.uses(engine::uses_response_size));
        CHECK(applies(param::in_flight, row) == row.pipelined);
        CHECK(applies(param::direction, row) == row.directional);
        CHECK(applies(param::zerocopy, row) == row.stream());
        CHECK(applies(param::timeout, row) == (row.udp() && !row.stream()));
        for (param p : {param::tls, param::tls_version, param::cipher, param::nodelay, param::congestion})
            CHECK(applies(p, row) == row.tcp());
        for (param p : {param::traffic, param::flows, param::rate, param::duration, param::sndbuf})
            CHECK(applies(p, row));
    }
}

TEST_CASE("params: a scenario without traffic is told the kinds") {
    auto p = load_plan("x.yaml", "version: 1\nhosts: {me: {}}\nscenarios:\n  - {name: s, flows: 2}\n");
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().text ==
          "x.yaml:4:5: scenario 's' has no 'traffic' (expected tcp_stream, tcp_rr, tcp_crr, "
          "udp_stream or udp_rr)\n"
          "  - {name: s, flows: 2}\n"
          "    ^\n");
}
