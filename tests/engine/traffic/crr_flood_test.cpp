// tcp_crr under connections without the run's token: strays that send nothing, garbage or a
// wrong token never take the accept slots of the client's connections (the oldest stray gives
// its slot up), are refused and counted as rejected hellos, and a silent one is closed once the
// hello deadline passes.
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "engine/core/hello.hpp"
#include "engine/core/socket.hpp"
#include "session_fixture.hpp"

namespace kp::engine::test {
namespace {

/// What a stray sends once connected.
enum class stray_kind : std::uint8_t { silent, garbage, wrong_token };

/// `n` TCP connections to 127.0.0.1:port that never present the run's token; all closed on
/// destruction. The listener's backlog completes their handshakes whether or not the server
/// accepts them yet.
struct strays {
    std::vector<int> fds;
    strays(std::uint16_t port, std::size_t n, stray_kind kind) {
        auto addr = resolve("127.0.0.1", port);
        REQUIRE(addr.has_value());
        const auto fake = encode_hello({hello_purpose::crr, 0, 0, "not-the-token"});
        const char http[] = "GET / HTTP/1.0\r\n\r\n";
        fds.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            auto fd = connect_tcp(*addr, {}, mono_ns_after(2s));
            REQUIRE_MESSAGE(fd.has_value(), (fd ? "" : fd.error().message));
            const int f = fd->release();
            fds.push_back(f);
            if (kind == stray_kind::garbage) CHECK(::send(f, http, sizeof http - 1, MSG_NOSIGNAL) > 0);
            if (kind == stray_kind::wrong_token) CHECK(::send(f, fake.data(), fake.size(), MSG_NOSIGNAL) > 0);
        }
    }
    strays(const strays&) = delete;
    strays& operator=(const strays&) = delete;
    ~strays() {
        for (int f : fds)
            ::close(f);
    }
    /// How many the server has closed (EOF or a reset is readable now).
    [[nodiscard]] std::size_t closed_by_peer() const {
        std::size_t n = 0;
        for (int f : fds) {
            pollfd p{f, POLLIN, 0};
            if (::poll(&p, 1, 0) != 1) continue;
            char b[64];
            if (::recv(f, b, sizeof b, MSG_DONTWAIT) <= 0) ++n;
        }
        return n;
    }
};

/// The strays of one run: how many, and when they come (before start, or `after` it).
struct flood {
    std::size_t silent = 0, garbage = 0, wrong_token = 0;
    std::chrono::milliseconds after{-1}; ///< negative: opened between establish and start
};

struct flood_result {
    pair_result r;
    std::size_t strays = 0, closed = 0; ///< opened; closed by the server by the end of the run
};

/// Runs `job` on loopback with `f`'s strays at the server's data port, opened after both sides
/// have established (the crr workers accept them from the listener) and kept open to the end.
flood_result run_flooded(const job_spec& job, const flood& f, const listen_options& opts = {}) {
    auto srv = listen_with(job, {"127.0.0.1", 0}, opts);
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE_MESSAGE(cli.has_value(), (cli ? "" : cli.error().message));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    auto client_est = (*cli)->establish(deadline);
    t.join();
    REQUIRE(client_est.has_value());
    REQUIRE(server_est.has_value());
    const std::uint16_t port = (*srv)->port();
    std::vector<std::unique_ptr<strays>> opened;
    auto open_all = [&] {
        opened.push_back(std::make_unique<strays>(port, f.silent, stray_kind::silent));
        opened.push_back(std::make_unique<strays>(port, f.garbage, stray_kind::garbage));
        opened.push_back(std::make_unique<strays>(port, f.wrong_token, stray_kind::wrong_token));
    };
    if (f.after.count() < 0) open_all();
    REQUIRE((*srv)->start().has_value());
    REQUIRE((*cli)->start().has_value());
    if (f.after.count() >= 0) {
        std::this_thread::sleep_for(f.after);
        open_all();
    }
    auto end = std::chrono::steady_clock::now() + job.warmup + job.duration + 5s;
    CHECK((*cli)->wait(end));
    CHECK((*srv)->wait(end));
    flood_result out{{(*srv)->collect(), (*cli)->collect()}, 0, 0};
    for (const auto& s : opened) {
        out.strays += s->fds.size();
        out.closed += s->closed_by_peer();
    }
    return out;
}

double rate(const side_result& r, std::chrono::milliseconds window) {
    return double(total(r, &flow_result::transactions)) / std::chrono::duration<double>(window).count();
}

/// The server's accept slots: flows + 16 per worker. Strays still waiting in one at the window
/// end are closed but not counted.
std::size_t slots(const side_result& server, const job_spec& job) {
    return server.workers.size() * (job.flows + 16);
}

/// Every client flow got transactions through: none was starved of accept slots.
void check_no_flow_starved(const side_result& client) {
    for (const auto& fl : client.flows) {
        CAPTURE(fl.id);
        CHECK(fl.transactions > 20);
    }
}

/// No connection of the client's was refused for want of a slot (the bug: errors.connect on the
/// server, the client's transactions cut off). One whose hello is not in yet when a burst of
/// strays fills the slots is indistinguishable from them and may give its slot up (its client
/// stalled between connect and send, which a loaded 2-CPU VM shows now and then): the client
/// counts it as a read error and goes on. A burst catches at most each flow's one connection.
void check_few_evicted(const pair_result& r) {
    CHECK(r.server.errors.connect == 0);
    CHECK(r.client.errors.connect == 0);
    CHECK(r.client.errors.read <= r.client.flows.size());
}

} // namespace

TEST_CASE("tcp_crr: idle, garbage and wrong-token strays take no slot from the client's connections") {
    constexpr auto window = 600ms;
    job_spec job = short_job(traffic::tcp_crr, window);
    job.flows = 4;
    const auto base = run_flooded(job, {});
    CHECK(base.r.server.errors.rejected_hello == 0);
    check_no_flow_starved(base.r.client);

    // 40 at the window start: more than the server's slots (flows + 16).
    const auto hit = run_flooded(job, {.silent = 30, .garbage = 5, .wrong_token = 5, .after = 100ms});
    check_no_flow_starved(hit.r.client);
    check_few_evicted(hit.r);
    // Garbage and wrong tokens are refused at once, and silent ones beyond the slots give theirs
    // up as they come: all but those still waiting in a slot (flows + 16 per worker).
    CHECK(hit.r.server.errors.rejected_hello >= 10);
    CHECK(hit.r.server.errors.rejected_hello + slots(hit.r.server, job) >= hit.strays);
    CHECK(hit.closed == hit.strays); // none outlives the run
    const double r0 = rate(base.r.client, window), r1 = rate(hit.r.client, window);
    MESSAGE("tcp_crr, 4 flows: ", r0, " tx/s alone, ", r1, " tx/s with 40 strays at the window start (",
            100.0 * r1 / r0, "%), ", hit.r.server.errors.rejected_hello, " rejected");
    // Timing on a shared VM is not this test's business (runs alone vary 3x here): only a sanity
    // bound, which the strays' old effect (3% of the rate with 40, none left with 500) fails.
    CHECK(r1 > 0.2 * r0);
}

TEST_CASE("tcp_crr: a flood of 500 idle connections before the window starves no flow") {
    constexpr auto window = 600ms;
    job_spec job = short_job(traffic::tcp_crr, window);
    job.flows = 4;
    const auto base = run_flooded(job, {});
    const auto hit = run_flooded(job, {.silent = 500});
    check_no_flow_starved(hit.r.client);
    check_few_evicted(hit.r);
    CHECK(hit.r.server.errors.rejected_hello + slots(hit.r.server, job) >= hit.strays);
    CHECK(hit.closed == hit.strays);
    const double r0 = rate(base.r.client, window), r1 = rate(hit.r.client, window);
    MESSAGE("tcp_crr, 4 flows: ", r0, " tx/s alone, ", r1, " tx/s with 500 strays before the window (",
            100.0 * r1 / r0, "%), ", hit.r.server.errors.rejected_hello, " rejected");
    CHECK(r1 > 0.2 * r0);
}

TEST_CASE("tcp_crr: a connection that sends no hello is closed at the hello deadline and counted") {
    constexpr auto window = 800ms;
    job_spec job = short_job(traffic::tcp_crr, window);
    job.flows = 2;
    listen_options opts;
    opts.hello_timeout = 200ms;
    // Opened during the warm-up: accepted at once (free slots), then only the deadline ends them.
    const auto hit = run_flooded(job, {.silent = 3, .after = 20ms}, opts);
    check_no_flow_starved(hit.r.client);
    CHECK(hit.r.server.errors.rejected_hello == 3);
    CHECK(hit.r.server.errors.connect == 0);
    CHECK(hit.closed == 3);
}

TEST_CASE("tcp_crr: the hello deadline closes a silent stray after it, not before") {
    job_spec job = short_job(traffic::tcp_crr, 1500ms);
    job.warmup = 50ms;
    listen_options opts;
    opts.hello_timeout = 300ms;
    auto srv = listen_with(job, {"127.0.0.1", 0}, opts);
    REQUIRE(srv.has_value());
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE(cli.has_value());
    auto deadline = std::chrono::steady_clock::now() + 10s;
    result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    REQUIRE((*cli)->establish(deadline).has_value());
    t.join();
    REQUIRE(server_est.has_value());
    REQUIRE((*srv)->start().has_value());
    REQUIRE((*cli)->start().has_value());
    std::this_thread::sleep_for(100ms); // in the window: the workers accept at once
    strays s((*srv)->port(), 1, stray_kind::silent);
    const auto t0 = std::chrono::steady_clock::now();
    pollfd p{s.fds[0], POLLIN, 0};
    const int ready = ::poll(&p, 1, 1200);
    const auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(ready == 1);
    CHECK(s.closed_by_peer() == 1);
    MESSAGE("silent stray closed after ", std::chrono::duration<double, std::milli>(waited).count(), " ms");
    CHECK(waited >= 250ms);
    CHECK(waited < 1000ms);
    auto end = std::chrono::steady_clock::now() + job.warmup + job.duration + 5s;
    CHECK((*cli)->wait(end));
    CHECK((*srv)->wait(end));
    auto r = (*srv)->collect();
    (*cli)->collect();
    CHECK(r.errors.rejected_hello == 1);
}

} // namespace kp::engine::test
