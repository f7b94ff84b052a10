#pragma once
// Helpers for the TLS tests: loopback TCP pairs, a pattern pump that checks every byte, handshakes.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/tls/tls.hpp"

namespace kp_test {

namespace tls = kp::engine::tls;
using kp::engine::io_status;
using kp::engine::stream_io;
using kp::engine::tls_cipher;
using kp::engine::tls_mode;
using kp::engine::tls_path;
using kp::engine::tls_report;
using kp::engine::tls_spec;
using kp::engine::tls_version;
using clk = std::chrono::steady_clock;

/// A connected loopback TCP pair {client, server}; the listener is closed.
inline std::pair<int, int> tcp_pair() {
    int lst = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int cli = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(lst >= 0);
    REQUIRE(cli >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(lst, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(lst, 4) == 0);
    REQUIRE(::getsockname(lst, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    REQUIRE(::connect(cli, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    int srv = ::accept4(lst, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(srv >= 0);
    ::close(lst);
    return {cli, srv};
}

// The payload pattern: byte i of a stream is table[i % 251] (a prime period, so chunk
// boundaries never line up with it and a shifted or repeated chunk is caught).
constexpr std::size_t period = 251;
inline std::byte pattern(std::uint64_t i) {
    return static_cast<std::byte>((i % period) * 97 % 256);
}

struct pump_result {
    std::uint64_t sent = 0, received = 0, mismatches = 0;
    bool failed = false, closed = false;
};

/// Sends `to_send` pattern bytes and receives (and verifies) `to_receive` at the same time,
/// until both are done or `deadline` passes.
inline pump_result pump(stream_io& io, std::uint64_t to_send, std::uint64_t to_receive,
                        clk::time_point deadline) {
    std::vector<std::byte> out(64 * 1024 + period), in(64 * 1024);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = pattern(i);
    pump_result r;
    while ((r.sent < to_send || r.received < to_receive) && clk::now() < deadline && !r.failed) {
        bool progress = false;
        if (r.sent < to_send) {
            std::size_t n = std::min<std::uint64_t>(64 * 1024, to_send - r.sent);
            auto w = io.write(std::span(out).subspan(r.sent % period, n));
            if (w.status == io_status::ok)
                r.sent += w.bytes, progress = true;
            else if (w.status != io_status::retry)
                r.failed = true;
        }
        // Read until retry: TLS may hold decrypted bytes that no poll() readiness announces.
        for (int i = 0; i < 64 && r.received < to_receive; ++i) {
            auto rd = io.read(in);
            if (rd.status == io_status::retry) break;
            if (rd.status != io_status::ok) {
                r.closed = rd.status == io_status::closed;
                r.failed = true;
                break;
            }
            for (std::size_t j = 0; j < rd.bytes; ++j)
                if (in[j] != pattern(r.received + j)) ++r.mismatches;
            r.received += rd.bytes;
            progress = true;
        }
        if (!progress) {
            pollfd pfd{io.fd(), static_cast<short>(POLLIN | (r.sent < to_send ? POLLOUT : 0)), 0};
            ::poll(&pfd, 1, 100);
        }
    }
    return r;
}

inline tls_spec spec_of(tls_mode mode, tls_version v, tls_cipher c) {
    tls_spec s;
    s.mode = mode;
    s.version = v;
    s.cipher = c;
    return s;
}

/// Both sides of one handshake, the server on a thread.
struct handshake_pair {
    kp::result<std::unique_ptr<stream_io>> client = kp::fail("not run"), server = kp::fail("not run");
    tls_report client_report, server_report;
    double seconds = 0;
    int client_fd = -1, server_fd = -1;
};

inline handshake_pair run_handshake(const tls::context& server_ctx, const tls::context& client_ctx,
                                    clk::duration budget = std::chrono::seconds(5)) {
    handshake_pair h;
    auto [c, s] = tcp_pair();
    h.client_fd = c;
    h.server_fd = s;
    auto t0 = clk::now();
    auto deadline = t0 + budget;
    std::thread server([&, s = s] { h.server = tls::handshake(s, server_ctx, deadline, h.server_report); });
    h.client = tls::handshake(c, client_ctx, deadline, h.client_report);
    server.join();
    h.seconds = std::chrono::duration<double>(clk::now() - t0).count();
    // On failure the fds stay ours to close.
    if (!h.client) ::close(c);
    if (!h.server) ::close(s);
    return h;
}

/// A handshake over loopback with a fresh identity, the client pinning its fingerprint; both
/// sides must succeed.
inline handshake_pair pinned_handshake(tls_version v, tls_cipher c) {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::openssl, v, c);
    auto server_ctx = tls::make_server_context(*id, spec);
    REQUIRE(server_ctx);
    spec.peer_fingerprint = id->fingerprint;
    auto client_ctx = tls::make_client_context(spec);
    REQUIRE(client_ctx);
    auto h = run_handshake(**server_ctx, **client_ctx);
    REQUIRE(h.client);
    REQUIRE(h.server);
    return h; // each SSL holds a reference to its context
}

inline std::string cipher_name(tls_version v, tls_cipher c) {
    if (v == tls_version::v1_3) {
        switch (c) {
        case tls_cipher::aes_128_gcm:
            return "TLS_AES_128_GCM_SHA256";
        case tls_cipher::aes_256_gcm:
            return "TLS_AES_256_GCM_SHA384";
        case tls_cipher::chacha20_poly1305:
            return "TLS_CHACHA20_POLY1305_SHA256";
        }
    }
    switch (c) {
    case tls_cipher::aes_128_gcm:
        return "ECDHE-ECDSA-AES128-GCM-SHA256";
    case tls_cipher::aes_256_gcm:
        return "ECDHE-ECDSA-AES256-GCM-SHA384";
    case tls_cipher::chacha20_poly1305:
        return "ECDHE-ECDSA-CHACHA20-POLY1305";
    }
    return "";
}

/// Moves `bytes` each way at once over an established pair and checks every byte.
inline void check_both_ways(stream_io& client, stream_io& server, std::uint64_t bytes) {
    auto deadline = clk::now() + std::chrono::seconds(20);
    pump_result at_server;
    std::thread t([&] { at_server = pump(server, bytes, bytes, deadline); });
    pump_result at_client = pump(client, bytes, bytes, deadline);
    t.join();
    CHECK(at_client.sent == bytes);
    CHECK(at_client.received == bytes);
    CHECK(at_server.sent == bytes);
    CHECK(at_server.received == bytes);
    CHECK(at_client.mismatches == 0);
    CHECK(at_server.mismatches == 0);
    CHECK_FALSE(at_client.failed);
    CHECK_FALSE(at_server.failed);
}

} // namespace kp_test
