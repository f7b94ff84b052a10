// agent_client against real local agents: hello, a full job between two agents, stop during
// wait, a killed agent, end of stream mid-run.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "agent_fixture.hpp"
#include "engine/core/clock.hpp"
#include "engine/tls/tls.hpp"
#include "remote/clock.hpp"

using namespace kp::remote;
using namespace kp::remote::test;
using kp::engine::job_spec;

namespace {

job_spec stream_job(std::chrono::milliseconds duration) {
    job_spec j;
    j.kind = kp::engine::traffic::tcp_stream;
    j.warmup = 100ms;
    j.duration = duration;
    j.token = "t0ken";
    j.id = "agent-test";
    return j;
}

std::uint64_t bytes_received(const kp::engine::side_result& r) {
    std::uint64_t n = 0;
    for (const auto& f : r.flows)
        n += f.bytes_received;
    return n;
}

/// Two agents ("a" serves, "b" connects) with `job` established and started as instance "s1".
struct running_pair {
    log_lines log_a, log_b;
    local_transport* link_b = nullptr;
    std::unique_ptr<agent_client> a = start_client("a", nullptr, &log_a);
    std::unique_ptr<agent_client> b = start_client("b", &link_b, &log_b);
    std::uint16_t port = 0;

    /// Starts both at `at_ns` (CLOCK_REALTIME; 0: now).
    explicit running_pair(const job_spec& job, std::int64_t at_ns = 0) {
        auto l = a->listen("s1", job, {"127.0.0.1", 0}, 5s);
        REQUIRE_MESSAGE(l.has_value(), (l ? "" : l.error().message));
        port = l->port;
        CHECK(l->port != 0);
        CHECK(l->tls_fingerprint.empty());
        auto c = b->connect("s1", job, {"127.0.0.1", l->port}, 5s);
        REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
        auto server = std::async(std::launch::async, [&] { return a->establish("s1", 5s); });
        auto client = b->establish("s1", 5s);
        auto server_done = server.get();
        REQUIRE_MESSAGE(client.has_value(), (client ? "" : client.error().message));
        REQUIRE_MESSAGE(server_done.has_value(), (server_done ? "" : server_done.error().message));
        auto s1 = a->start("s1", 5s, at_ns);
        REQUIRE_MESSAGE(s1.has_value(), (s1 ? "" : s1.error().message));
        auto s2 = b->start("s1", 5s, at_ns);
        REQUIRE_MESSAGE(s2.has_value(), (s2 ? "" : s2.error().message));
    }
};

// True when nothing listens on 127.0.0.1:port any more: a connect is refused. (A bind test would
// also trip over the run's connections lingering in TIME_WAIT.)
bool no_listener(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 && errno == ECONNREFUSED;
    ::close(fd);
    return refused;
}

} // namespace

TEST_CASE("agent_client: hello reports this host's capabilities") {
    local_transport* link = nullptr;
    auto c = start_client("h", &link);
    const capabilities& caps = c->caps();
    utsname u{};
    REQUIRE(uname(&u) == 0);
    CHECK(caps.protocol_version == protocol::version);
    CHECK(caps.build_id.starts_with("0.1.0+"));
    CHECK(caps.build_id.size() == 6 + 16);
    CHECK(caps.pid == link->pid());
    CHECK(caps.arch == u.machine);
    CHECK(caps.kernel == u.release);
    CHECK(caps.cpu_count == sysconf(_SC_NPROCESSORS_ONLN));
    CHECK_FALSE(caps.allowed_cpus.empty());
    CHECK(caps.ktls == kp::engine::tls::ktls_available());
    CHECK(caps.ktls_reason.empty() == caps.ktls);
    bool loopback = false;
    for (const auto& i : caps.interfaces)
        if (i.name == "lo") {
            loopback = true;
            CHECK(i.mtu == 65536);
            CHECK(std::find(i.addresses.begin(), i.addresses.end(), "127.0.0.1") != i.addresses.end());
        }
    CHECK(loopback);
    auto env = c->environment(5s);
    REQUIRE(env.has_value());
    CHECK((*env)["kernel"] == u.release);
    CHECK((*env)["sysctls"].contains("net.ipv4.tcp_congestion_control"));
    c->shutdown();
    CHECK_FALSE(c->alive());
    CHECK(c->start("x", 1s).error().message == "host h: start x: agent on host h was shut down");
}

TEST_CASE("agent_client: a local job between two agents returns figures from both sides") {
    running_pair p(stream_job(500ms));
    auto server = std::async(std::launch::async, [&] { return p.a->wait("s1", 10s); });
    auto client = p.b->wait("s1", 10s);
    auto srv = server.get();
    REQUIRE_MESSAGE(client.has_value(), (client ? "" : client.error().message));
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    CHECK(bytes_received(*srv) > 0);
    CHECK(srv->seconds > 0.4);
    CHECK(client->flows.size() == 1);
    // Busy-free after wait: collect again, then release frees the port.
    auto again = p.a->collect("s1", 5s);
    REQUIRE(again.has_value());
    CHECK(bytes_received(*again) == bytes_received(*srv));
    CHECK(p.a->release("s1").has_value());
    CHECK(p.b->release("s1").has_value());
    CHECK(p.a->start("s1", 1s).error().message == "host a: start s1: no instance 's1'");
    CHECK(no_listener(p.port));
}

TEST_CASE("agent_client: stop while wait is outstanding ends the wait") {
    running_pair p(stream_job(30s));
    auto t0 = std::chrono::steady_clock::now();
    auto waiting = std::async(std::launch::async, [&] { return p.b->wait("s1", 40s); });
    std::this_thread::sleep_for(300ms);
    auto busy = p.b->collect("s1", 1s);
    REQUIRE_FALSE(busy.has_value());
    CHECK(busy.error().message == "host b: collect s1: instance 's1' is busy: wait in progress");
    REQUIRE(p.b->stop("s1", 5s).has_value());
    REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
    auto r = waiting.get();
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    CHECK(p.a->stop("s1", 5s).has_value());
}

TEST_CASE("agent_client: an agent killed mid-wait fails the wait promptly with a reason") {
    running_pair p(stream_job(30s));
    auto waiting = std::async(std::launch::async, [&] { return p.b->wait("s1", 40s); });
    std::this_thread::sleep_for(300ms);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(::kill(p.link_b->pid(), SIGKILL) == 0);
    REQUIRE(waiting.wait_for(3s) == std::future_status::ready);
    auto r = waiting.get();
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == "host b: wait s1: agent on host b exited (killed by signal 9 (Killed))");
    CHECK(r.error().kind == kp::error_kind::infrastructure);
    CHECK_FALSE(p.b->alive());
    CHECK(p.b->stop("s1", 1s).error().message ==
          "host b: stop s1: agent on host b exited (killed by signal 9 (Killed))");
    // The other agent still answers.
    CHECK(p.a->stop("s1", 5s).has_value());
}

TEST_CASE("agent_client: end of stream mid-run makes the agent exit within 2 s and free its port") {
    running_pair p(stream_job(30s));
    std::this_thread::sleep_for(300ms);
    auto t0 = std::chrono::steady_clock::now();
    p.link_b->close_input();
    auto deadline = t0 + 3s;
    while (p.b->alive() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    CHECK_FALSE(p.b->alive());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
    CHECK(p.b->stop("s1", 1s).error().message == "host b: stop s1: agent on host b exited (exit code 0)");

    // Same for the server side: its listening port is free once it is gone.
    p.a->shutdown();
    CHECK(no_listener(p.port));
}

TEST_CASE("agent_client: an agent's error keeps its kind across the wire: usage, timeout") {
    auto a = start_client("a");
    job_spec bad = stream_job(1s);
    bad.flows = 0;
    auto l = a->listen("u", bad, {"127.0.0.1", 0}, 5s);
    REQUIRE_FALSE(l.has_value());
    CHECK(l.error().message == "host a: listen u: flows must be at least 1");
    CHECK(l.error().kind == kp::error_kind::usage);

    running_pair p(stream_job(30s));
    auto w = p.b->wait("s1", 200ms); // the agent's own deadline passes first
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error().message == "host b: wait s1: not finished within 200 ms");
    CHECK(w.error().kind == kp::error_kind::timeout);
    CHECK(p.a->stop("s1", 5s).has_value());
    CHECK(p.b->stop("s1", 5s).has_value());
}

TEST_CASE("agent_client: each error says its context once and whether it is the peer's consequence") {
    auto a = start_client("a");
    auto b = start_client("b");
    job_spec job = stream_job(1s);
    // More flows than CPUs: distinct Rx CPUs cannot exist, so the client gives up and aborts.
    job.flows = static_cast<std::uint32_t>(std::thread::hardware_concurrency() + 1);
    job.distinct_rx = true;
    auto l = a->listen("d", job, {"127.0.0.1", 0}, 5s);
    REQUIRE(l.has_value());
    REQUIRE(b->connect("d", job, {"127.0.0.1", l->port}, 5s).has_value());
    auto server = std::async(std::launch::async, [&] { return a->establish("d", 10s); });
    auto client = b->establish("d", 10s);
    auto server_done = server.get();
    REQUIRE_FALSE(client.has_value());
    CHECK(client.error().message.starts_with("host b: establish d: distinct_rx: "));
    CHECK_FALSE(client.error().consequence);
    REQUIRE_FALSE(server_done.has_value());
    CHECK(server_done.error().message ==
          "host a: establish d: the client aborted establishing the data connections (its error says why)");
    CHECK(server_done.error().consequence);
}

TEST_CASE("agent_client: the clock of a local agent is the runner's: |offset| < 100 us, in a few ms") {
    auto a = start_client("a");
    auto t0 = std::chrono::steady_clock::now();
    auto e = estimate_clock(*a, 8, 5s);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_MESSAGE(e.has_value(), (e ? "" : e.error().message));
    MESSAGE("offset " << e->offset_ns << " ns, rtt " << e->rtt_ns << " ns, took "
                      << std::chrono::duration<double, std::milli>(took).count() << " ms");
    CHECK(std::abs(e->offset_ns) < 100'000);
    CHECK(e->rtt_ns > 0);
    CHECK(e->uncertainty_ns == e->rtt_ns / 2);
    CHECK(std::abs(e->offset_ns) <= e->uncertainty_ns); // the same clock: 0 is within ± uncertainty
    CHECK(took < 100ms);
    // One raw request: the agent's reading lies between the runner's stamps, and those between
    // the test's readings around the call.
    std::int64_t before = kp::engine::real_ns();
    auto r = a->clock(5s);
    std::int64_t after = kp::engine::real_ns();
    REQUIRE(r.has_value());
    CHECK(before <= r->sent_ns);
    CHECK(r->sent_ns <= r->host_ns);
    CHECK(r->host_ns <= r->received_ns);
    CHECK(r->received_ns <= after);
}

TEST_CASE("agent_client: start at an instant is answered at once; the windows begin one warm-up after it") {
    auto job = stream_job(300ms);
    std::int64_t instant = kp::engine::real_ns() + 300'000'000;
    running_pair p(job, instant);
    CHECK(kp::engine::real_ns() < instant - 100'000'000); // neither start waited for the instant
    auto server = std::async(std::launch::async, [&] { return p.a->wait("s1", 10s); });
    auto client = p.b->wait("s1", 10s);
    auto srv = server.get();
    REQUIRE_MESSAGE(client.has_value(), (client ? "" : client.error().message));
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    const std::int64_t begin = instant + std::chrono::nanoseconds(job.warmup).count();
    INFO("window starts - (instant + warm-up): server " << srv->window_start_ns - begin << " ns, client "
                                                        << client->window_start_ns - begin << " ns");
    CHECK(srv->window_start_ns >= begin);
    CHECK(client->window_start_ns >= begin);
    CHECK(srv->window_start_ns - begin < 5'000'000);
    CHECK(client->window_start_ns - begin < 5'000'000);
    CHECK(bytes_received(*srv) > 0);
}

TEST_CASE(
    "agent_client: a start instant more than 60 s ahead is a usage error; the instance can still start") {
    log_lines log_a;
    auto a = start_client("a", nullptr, &log_a);
    auto job = stream_job(200ms);
    auto l = a->listen("s1", job, {"127.0.0.1", 0}, 5s);
    REQUIRE(l.has_value());
    auto b = start_client("b");
    REQUIRE(b->connect("s1", job, {"127.0.0.1", l->port}, 5s).has_value());
    auto server = std::async(std::launch::async, [&] { return a->establish("s1", 5s); });
    REQUIRE(b->establish("s1", 5s).has_value());
    REQUIRE(server.get().has_value());
    auto far = a->start("s1", 5s, kp::engine::real_ns() + 120'000'000'000);
    REQUIRE(!far.has_value());
    CHECK(far.error().kind == kp::error_kind::usage);
    CHECK(far.error().message.find("at most 60 s ahead") != std::string::npos);
    CHECK(a->start("s1", 5s).has_value());
    CHECK(b->start("s1", 5s).has_value());
    CHECK(a->wait("s1", 10s).has_value());
    CHECK(b->wait("s1", 10s).has_value());
}
