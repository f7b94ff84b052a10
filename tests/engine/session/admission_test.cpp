#include <doctest/doctest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/core/hello.hpp"
#include "engine/core/pattern.hpp"
#include "engine/core/socket.hpp"
#include "engine/stats/cpu_stats.hpp"
#include "engine/worker/placement.hpp"
#include "session_fixture.hpp"

using namespace kp::engine;
using namespace kp::engine::test;

namespace {

/// A raw TCP connection to 127.0.0.1:port.
unique_fd raw_connect(std::uint16_t port) {
    auto addr = resolve("127.0.0.1", port);
    REQUIRE(addr.has_value());
    auto fd = connect_tcp(*addr, {}, mono_ns_after(2s));
    REQUIRE(fd.has_value());
    return std::move(*fd);
}

/// True when the peer closes `fd` within `ms`.
bool closed_by_peer(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) != 1) return false;
    char b[64];
    return ::recv(fd, b, sizeof b, 0) <= 0;
}

} // namespace

TEST_CASE("hello: round-trips and refuses a wrong token") {
    auto bytes = encode_hello({hello_purpose::data, 7, 4321, "secret"});
    hello h;
    std::size_t used = 0;
    CHECK(parse_hello(bytes, "secret", h, used) == hello_parse::ok);
    CHECK(used == bytes.size());
    CHECK(h.candidate == 7);
    CHECK(h.udp_port == 4321);
    CHECK(parse_hello(bytes, "secreT", h, used) == hello_parse::bad_token);
    CHECK(parse_hello(std::span(bytes).first(10), "secret", h, used) == hello_parse::incomplete);
    const char http[] = "GET / HTTP/1.0\r\n";
    CHECK(parse_hello(std::as_bytes(std::span(http, 4)), "secret", h, used) == hello_parse::bad_magic);
    CHECK(std::string(describe(hello_parse::bad_token)) == "wrong token");
}

TEST_CASE("pattern: verify catches one corrupted byte") {
    pattern p(1000);
    std::vector<std::byte> data(p.at(12345, 1000).begin(), p.at(12345, 1000).end());
    CHECK(p.check(12345, data));
    CHECK_FALSE(p.check(12346, data));
    data[500] ^= std::byte{1};
    CHECK_FALSE(p.check(12345, data));
}

TEST_CASE("admission: wrong token, garbage and silent connections are refused and counted") {
    auto job = short_job(traffic::tcp_rr, 300ms);
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    const std::uint16_t port = (*srv)->port();

    auto bad = job;
    bad.token = "wrong";
    auto cli = connect(bad, {"127.0.0.1", port});
    REQUIRE(cli.has_value());
    auto est = (*cli)->establish(std::chrono::steady_clock::now() + 2s);
    REQUIRE_FALSE(est.has_value());
    CHECK(est.error().message ==
          "flow 0: the server refused the hello (wrong token, or not a kperf-plan server?): "
          "read: connection closed by the peer");

    auto garbage = raw_connect(port);
    const char http[] = "GET / HTTP/1.0\r\n\r\n";
    CHECK(::send(garbage.get(), http, sizeof http - 1, 0) == sizeof http - 1);
    CHECK(closed_by_peer(garbage.get(), 2000));
    auto silent = raw_connect(port);
    silent.reset(); // gone before any hello

    auto r = run_with(**srv, job);
    CHECK(r.server.errors.rejected_hello == 3);
    CHECK(r.client.flows[0].transactions > 100);
    CHECK(r.server.flows[0].transactions > 100);
}

TEST_CASE("admission: distinct_rx that cannot be met fails fast with a diagnosis") {
    auto job = short_job(traffic::tcp_stream, 300ms);
    // More flows than CPUs: distinct Rx CPUs cannot exist, whatever RSS/RPS do.
    job.flows = static_cast<std::uint32_t>(cpu_count() + 1);
    job.distinct_rx = true;
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE(cli.has_value());
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + 20s;
    kp::result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    auto est = (*cli)->establish(deadline);
    t.join();
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    REQUIRE_FALSE(est.has_value());
    CHECK(est.error().message.starts_with("distinct_rx: "));
    CHECK(est.error().message.find(fmt::format("after {} connections", 4 * job.flows)) != std::string::npos);
    CHECK(est.error().message.find("rps_cpus") != std::string::npos);
    CHECK(est.error().message.find("distinct Rx CPUs seen: ") != std::string::npos);
    REQUIRE_FALSE(server_est.has_value());
    CHECK(server_est.error().message ==
          "the client aborted establishing the data connections (its error says why)");
    CHECK(server_est.error().consequence);
    CHECK_FALSE(est.error().consequence);
}

TEST_CASE("admission: distinct_rx with one flow keeps one connection") {
    auto job = short_job(traffic::tcp_stream, 300ms);
    job.distinct_rx = true;
    auto r = run_pair(job);
    CHECK(r.server.flows[0].bytes_received > 0);
    CHECK(r.server.errors.rejected_hello == 0);
}

TEST_CASE("placement: a cpus rule pins the workers, and they run there") {
    auto allowed = allowed_cpus();
    REQUIRE(allowed.has_value());
    auto job = short_job(traffic::tcp_rr, 300ms);
    job.placement.how = placement_rule::kind::cpus;
    job.placement.cpus = {allowed->back()};
    auto r = run_pair(job);
    CHECK(r.client.flows[0].app_cpu == allowed->back());
    CHECK(r.server.flows[0].app_cpu == allowed->back());
}

TEST_CASE("placement: an rx+1 rule pins next to the flow's Rx CPU") {
    auto allowed = allowed_cpus();
    REQUIRE(allowed.has_value());
    auto job = short_job(traffic::tcp_rr, 300ms);
    job.placement.how = placement_rule::kind::rx;
    job.placement.offset = 1;
    auto r = run_pair(job);
    for (const auto* side : {&r.client, &r.server}) {
        const auto& f = side->flows[0];
        REQUIRE(f.rx_cpu_start >= 0);
        CHECK(f.app_cpu == place(job.placement, f.rx_cpu_start, *allowed));
    }
}

TEST_CASE("session: stop() ends a long run at once") {
    auto job = short_job(traffic::tcp_stream, 30s);
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE(cli.has_value());
    auto deadline = std::chrono::steady_clock::now() + 5s;
    std::thread t([&] { CHECK((*srv)->establish(deadline).has_value()); });
    CHECK((*cli)->establish(deadline).has_value());
    t.join();
    REQUIRE((*srv)->start().has_value());
    REQUIRE((*cli)->start().has_value());
    std::this_thread::sleep_for(400ms);
    auto t0 = std::chrono::steady_clock::now();
    (*cli)->stop();
    (*srv)->stop();
    (*cli)->stop(); // twice is fine
    CHECK((*cli)->wait(t0 + 2s));
    CHECK((*srv)->wait(t0 + 2s));
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    auto r = (*srv)->collect();
    CHECK(r.seconds < 1.0);
    CHECK(r.flows[0].bytes_received > 0);
}

TEST_CASE("admission: a connection that never completes its hello is refused after 3 s") {
    auto job = short_job(traffic::tcp_rr, 300ms);
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    auto t0 = std::chrono::steady_clock::now();
    auto silent = raw_connect((*srv)->port());
    auto half = encode_hello({hello_purpose::data, 0, 0, job.token});
    CHECK(::send(silent.get(), half.data(), 10, 0) == 10); // a hello cut short
    CHECK_FALSE(closed_by_peer(silent.get(), 2500));
    CHECK(closed_by_peer(silent.get(), 1500));
    CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    auto r = run_with(**srv, job);
    CHECK(r.server.errors.rejected_hello == 1);
    CHECK(r.client.flows[0].transactions > 100);
}

TEST_CASE("server: stop ends an establish that waits for connections, at once") {
    auto job = short_job(traffic::tcp_rr);
    job.token = "t";
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    const auto began = std::chrono::steady_clock::now();
    std::thread stopper([&] {
        std::this_thread::sleep_for(100ms);
        (*srv)->stop();
    });
    auto est = (*srv)->establish(began + 10s); // no client ever connects
    stopper.join();
    REQUIRE_FALSE(est.has_value());
    CHECK(est.error().message == "stopped while establishing");
    CHECK(est.error().consequence);
    CHECK(std::chrono::steady_clock::now() - began < 5s);
}
