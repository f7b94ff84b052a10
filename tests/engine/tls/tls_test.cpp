// TLS in user space on real loopback TCP connections: handshakes, pinned fingerprints, every
// version and cipher moving verified data both ways, failures that end within their deadline.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "engine/tls/tls.hpp"
#include "tls_helpers.hpp"

using namespace kp_test;

TEST_CASE("tls: identity is an in-memory self-signed certificate with a SHA-256 fingerprint") {
    auto a = tls::make_identity();
    auto b = tls::make_identity();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->fingerprint.size() == 64);
    CHECK(a->fingerprint.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(a->fingerprint != b->fingerprint);
    CHECK(a->key);
    CHECK(a->cert);
}

TEST_CASE("tls: openssl mode moves verified data both ways with every version and cipher") {
    auto id = tls::make_identity();
    REQUIRE(id);
    for (auto v : {tls_version::v1_2, tls_version::v1_3}) {
        for (auto c : {tls_cipher::aes_128_gcm, tls_cipher::aes_256_gcm, tls_cipher::chacha20_poly1305}) {
            auto spec = spec_of(tls_mode::openssl, v, c);
            CAPTURE(cipher_name(v, c));
            auto server_ctx = tls::make_server_context(*id, spec);
            REQUIRE(server_ctx);
            spec.peer_fingerprint = id->fingerprint;
            auto client_ctx = tls::make_client_context(spec);
            REQUIRE(client_ctx);
            auto h = run_handshake(**server_ctx, **client_ctx);
            REQUIRE_MESSAGE(h.client, h.client.error().message);
            REQUIRE_MESSAGE(h.server, h.server.error().message);
            for (const tls_report* r : {&h.client_report, &h.server_report}) {
                CHECK(r->version == (v == tls_version::v1_2 ? "TLSv1.2" : "TLSv1.3"));
                CHECK(r->cipher == cipher_name(v, c));
                CHECK(r->tx_path == tls_path::user);
                CHECK(r->rx_path == tls_path::user);
                CHECK(r->handshake_s > 0);
                CHECK(r->handshake_s < 5);
                CHECK(r->note.empty());
            }
            CHECK((*h.client)->fd() == h.client_fd);
            check_both_ways(**h.client, **h.server, 4 << 20);
        }
    }
}

TEST_CASE("tls: a wrong fingerprint fails the handshake on both sides, quickly") {
    auto id = tls::make_identity();
    auto other = tls::make_identity();
    REQUIRE(id);
    REQUIRE(other);
    for (auto v : {tls_version::v1_2, tls_version::v1_3}) {
        auto spec = spec_of(tls_mode::openssl, v, tls_cipher::aes_128_gcm);
        auto server_ctx = tls::make_server_context(*id, spec);
        REQUIRE(server_ctx);
        spec.peer_fingerprint = other->fingerprint;
        auto client_ctx = tls::make_client_context(spec);
        REQUIRE(client_ctx);
        auto h = run_handshake(**server_ctx, **client_ctx);
        REQUIRE_FALSE(h.client);
        REQUIRE_FALSE(h.server);
        CHECK(h.client.error().message == "TLS handshake: certificate fingerprint mismatch: expected " +
                                              other->fingerprint + ", got " + id->fingerprint);
        CHECK(h.server.error().message == "TLS handshake: sslv3 alert bad certificate (the peer rejected our "
                                          "certificate: fingerprint mismatch?)");
        CHECK(h.seconds < 2);
    }
}

TEST_CASE("tls: a silent peer makes the handshake fail at its deadline, not hang") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::aes_128_gcm);
    spec.peer_fingerprint = id->fingerprint;
    auto client_ctx = tls::make_client_context(spec);
    REQUIRE(client_ctx);
    auto [c, s] = tcp_pair(); // nobody handshakes on s
    tls_report report;
    auto t0 = clk::now();
    auto r = tls::handshake(c, **client_ctx, t0 + std::chrono::milliseconds(300), report);
    double took = std::chrono::duration<double>(clk::now() - t0).count();
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "TLS handshake: timed out (no answer from the peer before the deadline)");
    CHECK(took >= 0.29);
    CHECK(took < 1.5);
    ::close(c);
    ::close(s);
}

TEST_CASE("tls: a peer that hangs up during the handshake is an error") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::aes_128_gcm);
    spec.peer_fingerprint = id->fingerprint;
    auto client_ctx = tls::make_client_context(spec);
    REQUIRE(client_ctx);
    auto [c, s] = tcp_pair();
    ::close(s);
    tls_report report;
    auto r = tls::handshake(c, **client_ctx, clk::now() + std::chrono::seconds(5), report);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.starts_with("TLS handshake: "));
    ::close(c);
}

TEST_CASE("tls: a stepwise handshake tells a peer that hung up from one that failed it") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::aes_128_gcm);
    auto server_ctx = tls::make_server_context(*id, spec);
    REQUIRE(server_ctx);
    auto step_until_done = [](tls::pending& p) {
        for (int i = 0; i < 100; ++i) { // bounded: 100 x 20 ms
            auto r = p.step();
            if (r.status != io_status::retry) return r.status;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return io_status::retry;
    };
    SUBCASE("hung up before its ClientHello: closed") {
        auto [c, s] = tcp_pair();
        auto p = tls::start(s, **server_ctx);
        REQUIRE(p);
        CHECK((*p)->step().status == io_status::retry);
        ::close(c);
        CHECK(step_until_done(**p) == io_status::closed);
        ::close(s);
    }
    SUBCASE("sent garbage: error") {
        auto [c, s] = tcp_pair();
        auto p = tls::start(s, **server_ctx);
        REQUIRE(p);
        const char junk[] = "GET / HTTP/1.0\r\n\r\n";
        REQUIRE(::send(c, junk, sizeof junk - 1, MSG_NOSIGNAL) > 0);
        CHECK(step_until_done(**p) == io_status::error);
        CHECK((*p)->failure().message.starts_with("TLS handshake: "));
        ::close(c);
        ::close(s);
    }
}

TEST_CASE("tls: client context rejects a malformed fingerprint") {
    auto spec = spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::aes_128_gcm);
    spec.peer_fingerprint = "abc";
    auto ctx = tls::make_client_context(spec);
    REQUIRE_FALSE(ctx);
    CHECK(ctx.error().message ==
          "TLS client: the server certificate fingerprint to pin must be 64 hex digits, got 'abc'");
}

TEST_CASE("tls: fingerprints pin case-insensitively and with colons") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::aes_256_gcm);
    auto server_ctx = tls::make_server_context(*id, spec);
    REQUIRE(server_ctx);
    std::string colons;
    for (std::size_t i = 0; i < id->fingerprint.size(); i += 2)
        colons += (i ? ":" : "") + id->fingerprint.substr(i, 2);
    for (char& ch : colons)
        ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    spec.peer_fingerprint = colons;
    auto client_ctx = tls::make_client_context(spec);
    REQUIRE(client_ctx);
    auto h = run_handshake(**server_ctx, **client_ctx);
    CHECK(h.client);
    CHECK(h.server);
}

namespace {
/// A handshaken TLS 1.2 pair whose server side has already gone away without close_notify.
std::unique_ptr<stream_io> client_of_vanished_server() {
    auto h = pinned_handshake(tls_version::v1_2, tls_cipher::aes_256_gcm);
    h.server->reset(); // closes the socket, as a torn-down flow does
    return std::move(*h.client);
}
} // namespace

TEST_CASE("tls: a peer that goes away reads as closed") {
    auto client = client_of_vanished_server();
    std::byte buf[4096]{};
    auto deadline = clk::now() + std::chrono::seconds(5);
    kp::engine::io_result r;
    do {
        pollfd pfd{client->fd(), POLLIN, 0};
        ::poll(&pfd, 1, 100);
        r = client->read(buf);
    } while (r.status == io_status::retry && clk::now() < deadline);
    CHECK(r.status == io_status::closed);
}

TEST_CASE("tls: writing to a peer that went away is an error, not SIGPIPE") {
    auto client = client_of_vanished_server();
    std::byte buf[4096]{};
    auto deadline = clk::now() + std::chrono::seconds(5);
    // The first writes land in the socket buffer; the peer's kernel answers with a reset, and a
    // later write meets EPIPE/ECONNRESET. That must come back as an error, not kill the process.
    io_status last = io_status::ok;
    for (int i = 0; i < 1000 && last == io_status::ok && clk::now() < deadline; ++i) {
        last = client->write(buf).status;
        ::usleep(1000);
    }
    CHECK(last == io_status::error);
}

TEST_CASE("tls: one call moves many records, and a short count means the socket is drained or full") {
    auto h = pinned_handshake(tls_version::v1_3, tls_cipher::aes_128_gcm);
    auto& client = **h.client;
    auto& server = **h.server;

    // 48 KiB is three 16 KiB records; loopback takes them all at once.
    std::vector<std::byte> out(48 * 1024, std::byte{7}), in(64 * 1024);
    auto w = client.write(out);
    REQUIRE(w.status == io_status::ok);
    CHECK(w.bytes == out.size());

    pollfd pfd{server.fd(), POLLIN, 0};
    std::size_t got = 0;
    auto deadline = clk::now() + std::chrono::seconds(5);
    // One byte first: the rest of its record stays inside TLS, invisible to poll().
    while (got == 0 && clk::now() < deadline) {
        ::poll(&pfd, 1, 100);
        auto r = server.read(std::span(in).first(1));
        if (r.status == io_status::ok) got = r.bytes;
    }
    REQUIRE(got == 1);
    CHECK(server.buffered());
    while (got < out.size() && clk::now() < deadline) {
        auto r = server.read(in);
        if (r.status == io_status::ok) {
            got += r.bytes;
            if (r.bytes < in.size()) CHECK_FALSE(server.buffered());
        } else {
            REQUIRE(r.status == io_status::retry);
            ::poll(&pfd, 1, 100);
        }
    }
    CHECK(got == out.size());
    CHECK_FALSE(server.buffered());
}
