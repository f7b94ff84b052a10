// kTLS: the probe, `auto` falling back and saying so, `ktls` failing before traffic where the kernel
// has no TLS ULP, and the kernel path itself, which runs only where the ULP exists (skipped here,
// with the reason printed), plus the stepwise handshake tcp_crr drives from its epoll loop.
#include <doctest/doctest.h>

#include <linux/tls.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/tls/tls.hpp"
#include "skip.hpp"
#include "tls_helpers.hpp"

using namespace kp_test;

namespace {

#ifndef SOL_TLS
constexpr int SOL_TLS = 282;
#endif

/// The test's own probe, independent of the engine's: can a connected TCP socket take the TLS ULP?
bool direct_ulp_probe() {
    auto [c, s] = tcp_pair();
    bool ok = ::setsockopt(c, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0;
    ::close(c);
    ::close(s);
    return ok;
}

/// Makes both contexts for `spec` (the client pinned to `id`).
std::pair<std::shared_ptr<const tls::context>, std::shared_ptr<const tls::context>>
contexts(const tls::identity& id, tls_spec spec) {
    auto server = tls::make_server_context(id, spec);
    REQUIRE_MESSAGE(server, server.error().message);
    spec.peer_fingerprint = id.fingerprint;
    auto client = tls::make_client_context(spec);
    REQUIRE_MESSAGE(client, client.error().message);
    return {*server, *client};
}

int kernel_cipher(tls_cipher c) {
    switch (c) {
    case tls_cipher::aes_128_gcm:
        return TLS_CIPHER_AES_GCM_128;
    case tls_cipher::aes_256_gcm:
        return TLS_CIPHER_AES_GCM_256;
    case tls_cipher::chacha20_poly1305:
        return TLS_CIPHER_CHACHA20_POLY1305;
    }
    return -1;
}

std::uint64_t stat_of(const tls::tls_stat& s, std::string_view name) {
    for (const auto& [n, v] : s)
        if (n == name) return v;
    return 0;
}

} // namespace

TEST_CASE("ktls: availability agrees with a direct TCP_ULP probe") {
    bool direct = direct_ulp_probe();
    CHECK(tls::ktls_available() == direct);
    CHECK(tls::ktls_available() == tls::ktls_available()); // cached, stable
    if (direct) {
        CHECK(tls::ktls_unavailable_reason().empty());
    } else {
        CHECK(tls::ktls_unavailable_reason().starts_with(
            "kernel has no TLS ULP (setsockopt TCP_ULP \"tls\": "));
        CHECK(tls::ktls_unavailable_reason().ends_with(
            "); load the tls module (modprobe tls) or build the kernel with CONFIG_TLS"));
    }
}

TEST_CASE("ktls: /proc/net/tls_stat is read where it exists and differenced per counter") {
    bool exists = std::filesystem::exists("/proc/net/tls_stat");
    CHECK(tls::read_tls_stat().empty() == !exists);
    tls::tls_stat before{{"TlsCurrTxSw", 3}, {"TlsTxSw", 10}, {"TlsDecryptError", 1}};
    tls::tls_stat after{{"TlsCurrTxSw", 1}, {"TlsTxSw", 25}, {"TlsDecryptError", 1}, {"TlsNew", 4}};
    tls::tls_stat want{{"TlsCurrTxSw", 1}, {"TlsTxSw", 15}, {"TlsDecryptError", 0}};
    CHECK(tls::tls_stat_delta(before, after) == want);
}

TEST_CASE("ktls: auto uses the kernel where it can and records the path it actually used") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto [server_ctx, client_ctx] =
        contexts(*id, spec_of(tls_mode::automatic, tls_version::v1_2, tls_cipher::aes_128_gcm));
    auto h = run_handshake(*server_ctx, *client_ctx);
    REQUIRE_MESSAGE(h.client, h.client.error().message);
    REQUIRE_MESSAGE(h.server, h.server.error().message);
    for (const tls_report* r : {&h.client_report, &h.server_report}) {
        if (tls::ktls_available()) {
            // TLS 1.2 with AES-GCM is offloaded both ways by OpenSSL 3 built with kTLS.
            CHECK(r->tx_path == tls_path::kernel);
            CHECK(r->rx_path == tls_path::kernel);
        } else {
            CHECK(r->tx_path == tls_path::user);
            CHECK(r->rx_path == tls_path::user);
            CHECK(r->note == "auto: " + tls::ktls_unavailable_reason() + "; TLS runs in user space");
        }
    }
    check_both_ways(**h.client, **h.server, 1 << 20);
}

TEST_CASE("ktls: ktls mode fails before any connection where the kernel has no TLS ULP") {
    if (tls::ktls_available()) {
        kp::test::skip("this kernel has the TLS ULP, so ktls mode cannot fail for lack of it");
        return;
    }
    auto id = tls::make_identity();
    REQUIRE(id);
    auto spec = spec_of(tls_mode::ktls, tls_version::v1_3, tls_cipher::aes_128_gcm);
    auto server = tls::make_server_context(*id, spec);
    REQUIRE_FALSE(server);
    CHECK(server.error().message == "kTLS requested but " + tls::ktls_unavailable_reason());
    CHECK(server.error().message.find("TLS ULP") != std::string::npos);
    CHECK(server.error().kind == kp::error_kind::infrastructure);
    spec.peer_fingerprint = id->fingerprint;
    auto client = tls::make_client_context(spec);
    REQUIRE_FALSE(client);
    CHECK(client.error().message == server.error().message);
}

TEST_CASE("ktls: records go through the kernel, confirmed by TLS_TX/TLS_RX and tls_stat") {
    if (!tls::ktls_available()) {
        kp::test::skip("the kernel TLS path needs the TLS ULP, which this kernel lacks: " +
                       tls::ktls_unavailable_reason());
        return;
    }
    auto id = tls::make_identity();
    REQUIRE(id);
    for (auto c : {tls_cipher::aes_128_gcm, tls_cipher::aes_256_gcm, tls_cipher::chacha20_poly1305}) {
        CAPTURE(cipher_name(tls_version::v1_2, c));
        auto before = tls::read_tls_stat();
        auto [server_ctx, client_ctx] = contexts(*id, spec_of(tls_mode::ktls, tls_version::v1_2, c));
        auto h = run_handshake(*server_ctx, *client_ctx);
        REQUIRE_MESSAGE(h.client, h.client.error().message);
        REQUIRE_MESSAGE(h.server, h.server.error().message);
        for (const tls_report* r : {&h.client_report, &h.server_report}) {
            CHECK(r->tx_path == tls_path::kernel);
            CHECK(r->rx_path == tls_path::kernel);
        }
        // The kernel itself says the record layer is installed, both directions, with this cipher
        // (the header-sized query returns version and cipher without the keys).
        for (int fd : {(*h.client)->fd(), (*h.server)->fd()}) {
            for (int dir : {TLS_TX, TLS_RX}) {
                tls_crypto_info info{};
                socklen_t len = sizeof info;
                CHECK(::getsockopt(fd, SOL_TLS, dir, &info, &len) == 0);
                CHECK(info.version == TLS_1_2_VERSION);
                CHECK(info.cipher_type == kernel_cipher(c));
            }
        }
        check_both_ways(**h.client, **h.server, 4 << 20);
        auto delta = tls::tls_stat_delta(before, tls::read_tls_stat());
        CHECK(stat_of(delta, "TlsTxSw") + stat_of(delta, "TlsTxDevice") >= 2);
        CHECK(stat_of(delta, "TlsRxSw") + stat_of(delta, "TlsRxDevice") >= 2);
    }
    // TLS 1.3 through OpenSSL 3.0/3.1: sending in the kernel, receiving in user space, as asked.
    auto spec = spec_of(tls_mode::ktls, tls_version::v1_3, tls_cipher::aes_128_gcm);
    spec.ktls_rx = false;
    auto [server_ctx, client_ctx] = contexts(*id, spec);
    auto h = run_handshake(*server_ctx, *client_ctx);
    REQUIRE_MESSAGE(h.client, h.client.error().message);
    REQUIRE_MESSAGE(h.server, h.server.error().message);
    CHECK(h.client_report.tx_path == tls_path::kernel);
    check_both_ways(**h.client, **h.server, 1 << 20);
}

TEST_CASE("tls: the stepwise handshake completes from one thread's poll loop") {
    auto id = tls::make_identity();
    REQUIRE(id);
    auto [server_ctx, client_ctx] =
        contexts(*id, spec_of(tls_mode::openssl, tls_version::v1_3, tls_cipher::chacha20_poly1305));
    auto [c, s] = tcp_pair();
    auto client = tls::start(c, *client_ctx);
    auto server = tls::start(s, *server_ctx);
    REQUIRE(client);
    REQUIRE(server);
    bool client_done = false, server_done = false;
    auto deadline = clk::now() + std::chrono::seconds(5);
    while (!(client_done && server_done) && clk::now() < deadline) {
        for (auto [p, done] :
             {std::pair{client->get(), &client_done}, std::pair{server->get(), &server_done}}) {
            if (*done) continue;
            auto r = p->step();
            REQUIRE_MESSAGE(r.status != io_status::error, p->failure().message);
            *done = r.status == io_status::ok;
        }
        pollfd pfds[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
        ::poll(pfds, 2, 50);
    }
    REQUIRE(client_done);
    REQUIRE(server_done);
    tls_report cr, sr;
    auto cio = (*client)->finish(cr);
    auto sio = (*server)->finish(sr);
    REQUIRE(cio);
    REQUIRE(sio);
    CHECK(cr.cipher == "TLS_CHACHA20_POLY1305_SHA256");
    CHECK(sr.version == "TLSv1.3");
    check_both_ways(**cio, **sio, 1 << 20);
}
