#pragma once
// Runs one job between a server and a client session on 127.0.0.1, the way the agent does.
#include <chrono>
#include <memory>
#include <thread>

#include <doctest/doctest.h>

#include "engine/core/clock.hpp"
#include "engine/session/session.hpp"

namespace kp::engine::test {

using namespace std::chrono_literals;

/// Monotonic ns `d` from now.
inline std::int64_t mono_ns_after(std::chrono::nanoseconds d) {
    return mono_ns() + d.count();
}

/// A short job: 100 ms warm-up, `duration` window.
inline job_spec short_job(traffic kind, std::chrono::milliseconds duration = 500ms) {
    job_spec j;
    j.kind = kind;
    j.warmup = 100ms;
    j.duration = duration;
    j.token = "t0ken";
    j.id = "test";
    return j;
}

struct pair_result {
    side_result server, client;
};

/// Connects a client to a listening server, establishes both concurrently, runs and collects.
/// Fails the test on any error.
inline pair_result run_with(session& srv, const job_spec& client_job) {
    auto cli = connect(client_job, {"127.0.0.1", srv.port()});
    REQUIRE_MESSAGE(cli.has_value(), (cli ? "" : cli.error().message));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    result<void> server_est;
    std::thread t([&] { server_est = srv.establish(deadline); });
    auto client_est = (*cli)->establish(deadline);
    t.join();
    REQUIRE_MESSAGE(client_est.has_value(), (client_est ? "" : client_est.error().message));
    REQUIRE_MESSAGE(server_est.has_value(), (server_est ? "" : server_est.error().message));
    auto s1 = srv.start();
    REQUIRE_MESSAGE(s1.has_value(), (s1 ? "" : s1.error().message));
    auto s2 = (*cli)->start();
    REQUIRE_MESSAGE(s2.has_value(), (s2 ? "" : s2.error().message));
    auto end = std::chrono::steady_clock::now() + client_job.warmup + client_job.duration + 5s;
    CHECK((*cli)->wait(end));
    CHECK(srv.wait(end));
    return {srv.collect(), (*cli)->collect()};
}

/// Listens on 127.0.0.1 and runs `job` (the client may get its own copy, e.g. with the
/// server's TLS fingerprint).
inline pair_result run_pair(const job_spec& job, const job_spec* client_job = nullptr) {
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    return run_with(**srv, client_job ? *client_job : job);
}

inline std::uint64_t total(const side_result& r, std::uint64_t flow_result::*field) {
    std::uint64_t n = 0;
    for (const auto& f : r.flows)
        n += f.*field;
    return n;
}

} // namespace kp::engine::test
