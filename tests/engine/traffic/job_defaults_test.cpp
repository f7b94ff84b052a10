#include <doctest/doctest.h>

#include "engine/session/session_core.hpp"
#include "engine/traffic/job_defaults.hpp"

using namespace kp::engine;

TEST_CASE("job defaults: a default job of every kind is valid") {
    for (const auto& row : traffic_table) {
        CAPTURE(row.name);
        const job_spec j = default_job(row.kind);
        CHECK(j.kind == row.kind);
        CHECK(validate_job(j).has_value());
        if (row.udp()) {
            CHECK(j.write_size <= max_udp_payload);
            CHECK(j.request_size <= max_udp_payload);
            CHECK(j.response_size <= max_udp_payload);
        }
    }
}

TEST_CASE("job defaults: sizes come from the descriptor row") {
    CHECK(default_job(traffic::tcp_stream).write_size == 64 * 1024);
    CHECK(default_job(traffic::udp_stream).write_size == 1472);
    CHECK(default_job(traffic::udp_stream).read_size == 1472);
    CHECK(default_job(traffic::udp_rr).write_size == 1472);
}
