// session::start(instant): the workers are made at once, traffic waits for the instant.
#include <doctest/doctest.h>

#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/tcp.h>

#include <cstdlib>

#include "session_fixture.hpp"

using namespace kp::engine;
using namespace kp::engine::test;

namespace {

struct pair {
    std::unique_ptr<session> srv, cli;
};

/// A server and a client on 127.0.0.1 with their connections up, not started.
pair established(const job_spec& job) {
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE_MESSAGE(cli.has_value(), (cli ? "" : cli.error().message));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    kp::result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    auto client_est = (*cli)->establish(deadline);
    t.join();
    REQUIRE_MESSAGE(client_est.has_value(), (client_est ? "" : client_est.error().message));
    REQUIRE_MESSAGE(server_est.has_value(), (server_est ? "" : server_est.error().message));
    return {std::move(*srv), std::move(*cli)};
}

/// Bytes received so far by this process's TCP sockets bound to local `port` (the server's
/// accepted connections), read from tcp_info: what the kernel saw, whatever the session counts.
std::uint64_t received_on(std::uint16_t port) {
    std::uint64_t n = 0;
    DIR* d = opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    while (dirent* e = readdir(d)) {
        int fd = std::atoi(e->d_name);
        if (fd <= 2 || fd == dirfd(d)) continue;
        sockaddr_in a{};
        socklen_t len = sizeof a;
        if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || a.sin_family != AF_INET ||
            ntohs(a.sin_port) != port)
            continue;
        tcp_info ti{};
        len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) n += ti.tcpi_bytes_received;
    }
    closedir(d);
    return n;
}

constexpr std::int64_t ms = 1'000'000;

} // namespace

TEST_CASE("session: start(instant) returns at once; traffic and the window wait for the instant") {
    auto job = short_job(traffic::tcp_stream, 300ms);
    auto p = established(job);
    const std::uint16_t port = p.srv->port();
    std::int64_t instant = real_ns() + 300 * ms;
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(p.srv->start(instant).has_value());
    REQUIRE(p.cli->start(instant).has_value());
    // Both returned long before the instant: the caller is not held until then.
    CHECK(std::chrono::steady_clock::now() - t0 < 150ms);
    std::uint64_t before = received_on(port);
    std::this_thread::sleep_for(std::chrono::nanoseconds(instant - 80 * ms - real_ns()));
    std::uint64_t just_before = received_on(port);
    CHECK(just_before == before); // nothing sent yet, 80 ms before the instant
    auto end = std::chrono::steady_clock::now() + 5s;
    CHECK(p.cli->wait(end));
    CHECK(p.srv->wait(end));
    side_result s = p.srv->collect(), c = p.cli->collect();
    CHECK(received_on(port) > just_before + 1'000'000);
    CHECK(total(s, &flow_result::bytes_received) > 1'000'000);
    const std::int64_t begin = instant + job.warmup.count();
    MESSAGE("server window start - (instant + warm-up): " << (s.window_start_ns - begin) / 1e3 << " us");
    MESSAGE("client window start - (instant + warm-up): " << (c.window_start_ns - begin) / 1e3 << " us");
    CHECK(s.window_start_ns >= begin);
    CHECK(c.window_start_ns >= begin);
    CHECK(s.window_start_ns - begin < 5 * ms);
    CHECK(c.window_start_ns - begin < 5 * ms);
    CHECK(s.window_end_ns - s.window_start_ns == doctest::Approx(3e8).epsilon(0.02));
}

TEST_CASE("session: stop() before the start instant ends both sides promptly, with no window") {
    auto job = short_job(traffic::tcp_stream, 1000ms);
    auto p = established(job);
    std::int64_t instant = real_ns() + 2000 * ms;
    REQUIRE(p.srv->start(instant).has_value());
    REQUIRE(p.cli->start(instant).has_value());
    std::this_thread::sleep_for(50ms);
    auto t0 = std::chrono::steady_clock::now();
    p.cli->stop();
    p.srv->stop();
    auto end = t0 + 2s;
    CHECK(p.cli->wait(end));
    CHECK(p.srv->wait(end));
    CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
    side_result s = p.srv->collect(), c = p.cli->collect();
    CHECK(s.window_start_ns == 0);
    CHECK(c.window_start_ns == 0);
    CHECK(s.seconds == 0.0);
    CHECK(total(s, &flow_result::bytes_received) == 0);
}

TEST_CASE("session: a start instant in the past means now; one too far ahead is a usage error") {
    auto job = short_job(traffic::tcp_rr, 200ms);
    SUBCASE("past") {
        auto p = established(job);
        std::int64_t now = real_ns();
        REQUIRE(p.srv->start(now - 1000 * ms).has_value());
        REQUIRE(p.cli->start(now - 1000 * ms).has_value());
        auto end = std::chrono::steady_clock::now() + 5s;
        CHECK(p.cli->wait(end));
        CHECK(p.srv->wait(end));
        side_result c = p.cli->collect();
        CHECK(c.window_start_ns >= now + job.warmup.count());
        CHECK(c.window_start_ns < now + job.warmup.count() + 100 * ms);
        CHECK(total(c, &flow_result::transactions) > 0);
    }
    SUBCASE("too far") {
        auto p = established(job);
        auto r = p.srv->start(real_ns() + std::chrono::nanoseconds(max_start_ahead).count() + 1000 * ms);
        REQUIRE(!r.has_value());
        CHECK(r.error().kind == kp::error_kind::usage);
        CHECK(r.error().message.find("ahead") != std::string::npos);
        // Refused before anything was made: the session can still start (now).
        CHECK(p.srv->start().has_value());
        p.srv->stop();
    }
}
