// The forwarder on loopback: client -> forwarder -> server, with real sessions and raw sockets.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/core/hello.hpp"
#include "engine/core/socket.hpp"
#include "engine/forwarder/forwarder.hpp"
#include "engine/stats/cpu_stats.hpp"
#include "engine/wire/codec.hpp"
#include "session_fixture.hpp"

using namespace kp::engine;
using namespace kp::engine::test;

namespace {

/// Listens for `job` on loopback, opens a forwarder in front of it, runs the client through the
/// forwarder; returns server, client and the forwarder's figures.
struct chain_result {
    side_result server, client, proxy;
};

chain_result run_chain(const job_spec& job, const job_spec* client_job = nullptr) {
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    auto fwd = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", (*srv)->port()});
    REQUIRE_MESSAGE(fwd.has_value(), (fwd ? "" : fwd.error().message));
    CHECK((*fwd)->port() != (*srv)->port());
    job_spec cj = client_job ? *client_job : job;
    cj.tls.peer_fingerprint = (*srv)->tls_fingerprint();
    auto cli = connect(cj, {"127.0.0.1", (*fwd)->port()});
    REQUIRE_MESSAGE(cli.has_value(), (cli ? "" : cli.error().message));
    auto deadline = std::chrono::steady_clock::now() + 10s;
    kp::result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    auto client_est = (*cli)->establish(deadline);
    t.join();
    REQUIRE_MESSAGE(client_est.has_value(), (client_est ? "" : client_est.error().message));
    REQUIRE_MESSAGE(server_est.has_value(), (server_est ? "" : server_est.error().message));
    REQUIRE((*fwd)->start().has_value());
    REQUIRE((*srv)->start().has_value());
    REQUIRE((*cli)->start().has_value());
    auto end = std::chrono::steady_clock::now() + job.warmup + job.duration + 5s;
    CHECK((*cli)->wait(end));
    CHECK((*srv)->wait(end));
    CHECK((*fwd)->wait(end));
    chain_result out{(*srv)->collect(), (*cli)->collect(), (*fwd)->collect()};
    (*fwd)->stop();
    return out;
}

unique_fd raw_connect(std::uint16_t port) {
    auto addr = resolve("127.0.0.1", port);
    REQUIRE(addr.has_value());
    auto fd = connect_tcp(*addr, {}, mono_ns_after(2s));
    REQUIRE(fd.has_value());
    return std::move(*fd);
}

/// A plain listener standing in for the next hop; accept() waits up to 2 s.
struct raw_server {
    unique_fd fd;
    std::uint16_t port = 0;
    raw_server() {
        auto at = resolve("127.0.0.1", 0);
        REQUIRE(at.has_value());
        auto l = listen_tcp(*at, 16);
        REQUIRE(l.has_value());
        fd = std::move(*l);
        port = local_port(fd.get());
    }
    unique_fd accept_one() {
        pollfd p{fd.get(), POLLIN, 0};
        REQUIRE(poll(&p, 1, 2000) == 1);
        unique_fd c(::accept(fd.get(), nullptr, nullptr));
        REQUIRE(c);
        REQUIRE(set_nonblocking(c.get(), false).has_value());
        return c;
    }
};

std::vector<std::byte> hello_bytes(const std::string& token) {
    return encode_hello({hello_purpose::data, 1, 0, token});
}

/// Reads until `n` bytes or EOF/error/2 s; returns what arrived.
std::vector<std::byte> read_n(int fd, std::size_t n) {
    std::vector<std::byte> out(n);
    std::size_t got = 0;
    while (got < n) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 2000) != 1) break;
        ssize_t k = ::recv(fd, out.data() + got, n - got, 0);
        if (k <= 0) break;
        got += static_cast<std::size_t>(k);
    }
    out.resize(got);
    return out;
}

/// What the next read on `fd` shows within 2 s: 0 = EOF, -1 = error (reset), 1 = data, 2 = nothing.
int next_read(int fd, int* err = nullptr) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return 2;
    char b[16];
    ssize_t k = ::recv(fd, b, sizeof b, 0);
    if (k < 0 && err) *err = errno;
    return k > 0 ? 1 : static_cast<int>(k);
}

/// A raw client connected through a forwarder to a raw next hop (`s`), its hello already
/// relayed and read there.
struct relayed_pair {
    raw_server next;
    job_spec job;
    std::unique_ptr<forwarder> fwd;
    unique_fd c, s;
    explicit relayed_pair(traffic kind) : job(short_job(kind)) {
        auto f = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", next.port});
        REQUIRE(f.has_value());
        fwd = std::move(*f);
        c = raw_connect(fwd->port());
        auto h = hello_bytes(job.token);
        REQUIRE(write_all(c.get(), h, mono_ns_after(1s)).has_value());
        s = next.accept_one();
        CHECK(read_n(s.get(), h.size()).size() == h.size());
    }
};

} // namespace

TEST_CASE("forwarder: relays tcp_rr end to end and reports its CPU window") {
    auto job = short_job(traffic::tcp_rr, 400ms);
    job.flows = 2;
    auto r = run_chain(job);
    std::uint64_t tx = total(r.client, &flow_result::transactions);
    CHECK(tx > 100);
    CHECK(r.client.errors.read + r.client.errors.write == 0);
    REQUIRE(r.proxy.relay.has_value());
    CHECK(r.proxy.relay->connections == 2);
    // 64-byte requests and responses, every transaction through the forwarder.
    CHECK(r.proxy.relay->bytes_forward >= 64 * (tx - 2 * 1) / 2);
    CHECK(r.proxy.relay->bytes_backward >= 64 * (tx - 2 * 1) / 2);
    CHECK(r.proxy.seconds == doctest::Approx(0.4));
    CHECK(r.proxy.cpu_total.busy() > 0);
    CHECK(r.proxy.rusage_user_s + r.proxy.rusage_system_s > 0);
    CHECK(r.proxy.errors.rejected_hello == 0);
    CHECK_FALSE(r.client.relay.has_value());
    std::uint64_t by_cpu = 0; // every admitted connection has its Rx CPU
    for (auto n : r.proxy.relay->rx_cpus)
        by_cpu += n;
    CHECK(by_cpu == 2);
}

TEST_CASE("forwarder: relays a verified tcp_stream, and bidir") {
    auto job = short_job(traffic::tcp_stream, 300ms);
    job.verify = true;
    SUBCASE("forward") {}
    SUBCASE("bidir") {
        job.dir = direction::bidir;
    }
    SUBCASE("bidir, one forwarder worker for both connections") {
        // One direction's relay must not starve the other's: the worker takes turns.
        job.dir = direction::bidir;
        job.workers = 1;
    }
    auto r = run_chain(job);
    std::uint64_t got = total(r.server, &flow_result::bytes_received);
    INFO("client sent ", total(r.client, &flow_result::bytes_sent), ", received ",
         total(r.client, &flow_result::bytes_received), "; server sent ", total(r.server, &flow_result::bytes_sent),
         "; client errors r/w/c ", r.client.errors.read, "/", r.client.errors.write, "/", r.client.errors.connect,
         "; server errors r/w ", r.server.errors.read, "/", r.server.errors.write, "; windows s/c/p ",
         r.server.seconds, "/", r.client.seconds, "/", r.proxy.seconds, "; relay conns ",
         r.proxy.relay ? r.proxy.relay->connections : 0, " errors r/w/c ", r.proxy.errors.read, "/",
         r.proxy.errors.write, "/", r.proxy.errors.connect);
    CHECK(got > 1'000'000);
    CHECK(r.server.errors.verify == 0);
    CHECK(r.client.errors.verify == 0);
    REQUIRE(r.proxy.relay.has_value());
    CHECK(r.proxy.relay->bytes_forward > 1'000'000);
    if (job.dir == direction::bidir) CHECK(r.proxy.relay->bytes_backward > 1'000'000);
}

TEST_CASE("forwarder: tcp_crr opens one relayed connection per transaction") {
    auto job = short_job(traffic::tcp_crr, 300ms);
    auto r = run_chain(job);
    std::uint64_t tx = total(r.client, &flow_result::transactions);
    CHECK(tx > 20);
    REQUIRE(r.proxy.relay.has_value());
    CHECK(r.proxy.relay->connections > tx); // the probe, warm-up and every in-window transaction
    CHECK(r.client.errors.connect == 0);
}

TEST_CASE("forwarder: refuses a wrong token without connecting onward") {
    raw_server next;
    auto job = short_job(traffic::tcp_rr);
    auto fwd = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", next.port});
    REQUIRE(fwd.has_value());
    auto c = raw_connect((*fwd)->port());
    auto h = hello_bytes("wrong");
    REQUIRE(write_all(c.get(), h, mono_ns_after(1s)).has_value());
    CHECK(next_read(c.get()) <= 0); // closed by the forwarder
    pollfd p{next.fd.get(), POLLIN, 0};
    CHECK(poll(&p, 1, 100) == 0); // nothing reached the next hop
    auto live = (*fwd)->live();
    CHECK(live.connections == 0);
    CHECK((*fwd)->collect().errors.rejected_hello == 1);
}

TEST_CASE("forwarder: the hello and the bytes after it arrive unchanged; half-close passes both ways") {
    raw_server next;
    auto job = short_job(traffic::tcp_rr);
    auto fwd = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", next.port});
    REQUIRE(fwd.has_value());
    auto c = raw_connect((*fwd)->port());
    auto msg = hello_bytes(job.token);
    const char tail[] = "request";
    for (char ch : std::string_view(tail))
        msg.push_back(std::byte(ch));
    REQUIRE(write_all(c.get(), msg, mono_ns_after(1s)).has_value());
    REQUIRE(shutdown(c.get(), SHUT_WR) == 0);
    auto s = next.accept_one();
    CHECK(read_n(s.get(), msg.size()) == msg);
    CHECK(next_read(s.get()) == 0); // the client's FIN, passed on
    const char resp[] = "response";
    REQUIRE(write_all(s.get(), std::as_bytes(std::span(resp, 8)), mono_ns_after(1s)).has_value());
    auto back = read_n(c.get(), 8);
    CHECK(std::memcmp(back.data(), resp, back.size()) == 0);
    CHECK(back.size() == 8);
    s.reset(); // the server's FIN
    CHECK(next_read(c.get()) == 0);
    CHECK((*fwd)->live().connections == 1);
}

TEST_CASE("forwarder: a reset of the next hop reaches the client as a reset") {
    relayed_pair r(traffic::tcp_rr);
    auto& c = r.c;
    auto& s = r.s;
    const char more[] = "unread";
    REQUIRE(write_all(c.get(), std::as_bytes(std::span(more, 6)), mono_ns_after(1s)).has_value());
    std::this_thread::sleep_for(50ms);
    linger l{1, 0};
    setsockopt(s.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    s.reset(); // RST
    int err = 0;
    CHECK(next_read(c.get(), &err) == -1);
    CHECK(err == ECONNRESET);
}

TEST_CASE("forwarder: back-pressure holds a fast sender while the next hop does not read") {
    relayed_pair r(traffic::tcp_stream);
    auto& c = r.c;
    auto& s = r.s;
    REQUIRE(set_nonblocking(c.get(), true).has_value());
    // Write a numbered byte stream until the chain is full.
    std::vector<std::byte> chunk(16 * 1024);
    std::uint64_t sent = 0;
    auto stalled_since = mono_ns();
    while (mono_ns() - stalled_since < 300'000'000 && sent < (1u << 30)) {
        for (std::size_t i = 0; i < chunk.size(); ++i)
            chunk[i] = std::byte(static_cast<unsigned char>((sent + i) % 251));
        ssize_t n = ::send(c.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::uint64_t>(n);
            stalled_since = mono_ns();
        } else {
            REQUIRE(errno == EAGAIN);
            std::this_thread::sleep_for(5ms);
        }
    }
    // Bounded by the socket buffers and one relay buffer, far below what an unbounded relay takes.
    CHECK(sent < (256u << 20));
    auto live = r.fwd->live();
    CHECK(live.bytes_forward < sent);
    // Now the next hop reads: everything arrives, in order.
    REQUIRE(shutdown(c.get(), SHUT_WR) == 0);
    std::uint64_t got = 0;
    bool in_order = true;
    std::vector<std::byte> buf(64 * 1024);
    for (;;) {
        pollfd p{s.get(), POLLIN, 0};
        if (poll(&p, 1, 2000) != 1) break;
        ssize_t n = ::recv(s.get(), buf.data(), buf.size(), 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i)
            in_order = in_order && buf[i] == std::byte(static_cast<unsigned char>((got + i) % 251));
        got += static_cast<std::uint64_t>(n);
    }
    CHECK(got == sent);
    CHECK(in_order);
}

TEST_CASE("forwarder: refuses UDP kinds and an impossible placement") {
    auto job = short_job(traffic::udp_rr);
    auto f = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", 9});
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error().kind == kp::error_kind::usage);
    job = short_job(traffic::tcp_rr);
    job.placement.how = placement_rule::kind::cpus;
    job.placement.cpus = {4096};
    f = open_forwarder(job, {"127.0.0.1", 0}, {"127.0.0.1", 9});
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error().kind == kp::error_kind::usage);
}

TEST_CASE("forwarder: rx placement pins one worker per allowed CPU") {
    auto job = short_job(traffic::tcp_rr, 200ms);
    job.placement.how = placement_rule::kind::rx;
    auto r = run_chain(job);
    REQUIRE(r.proxy.relay.has_value());
    auto allowed = allowed_cpus();
    REQUIRE(allowed.has_value());
    CHECK(r.proxy.relay->workers.size() == allowed->size());
    for (std::size_t k = 0; k < allowed->size(); ++k)
        CHECK(r.proxy.relay->workers[k].cpu == (*allowed)[k]);
    CHECK(total(r.client, &flow_result::transactions) > 10);
}

TEST_CASE("forwarder: relay figures round-trip through JSON; end hosts carry none") {
    side_result r;
    nlohmann::json plain = r;
    CHECK_FALSE(plain.contains("relay"));
    r.relay = relay_stats{3, 100, 200, 1, {{0, 2, 150}, {-1, 1, 150}}};
    nlohmann::json j = r;
    auto back = decode_side_result(j);
    REQUIRE(back.has_value());
    REQUIRE(back->relay.has_value());
    CHECK(back->relay->connections == 3);
    CHECK(back->relay->bytes_backward == 200);
    CHECK(back->relay->workers.size() == 2);
    CHECK(back->relay->workers[1].cpu == -1);
    j["relay"]["bogus"] = 1;
    CHECK_FALSE(decode_side_result(j).has_value());
}

TEST_CASE("forwarder: TLS passes through end to end (handshake and pin between client and server)") {
    auto job = short_job(traffic::tcp_rr, 300ms);
    job.tls.mode = tls_mode::openssl;
    auto r = run_chain(job);
    CHECK(total(r.client, &flow_result::transactions) > 20);
    CHECK(r.client.flows[0].tls.version == "TLSv1.3");
    REQUIRE(r.proxy.relay.has_value());
    CHECK(r.proxy.relay->connections == 1);
    CHECK(r.proxy.errors.rejected_hello == 0);
}
