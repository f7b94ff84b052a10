/// SSL_CTX setup per side: pinned version and cipher, kTLS as the mode asks, identity or pinned fingerprint.
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/x509.h>

#include <csignal>
#include <mutex>

#include "engine/tls/context.hpp"
#include "engine/tls/tls.hpp"

namespace kp::engine::tls {
namespace {

const char* suite13(tls_cipher c) {
    switch (c) {
    case tls_cipher::aes_128_gcm:
        return "TLS_AES_128_GCM_SHA256";
    case tls_cipher::aes_256_gcm:
        return "TLS_AES_256_GCM_SHA384";
    case tls_cipher::chacha20_poly1305:
        return "TLS_CHACHA20_POLY1305_SHA256";
    }
    return "";
}

// TLS 1.2 suites with ECDHE and the ECDSA key make_identity() generates.
const char* suite12(tls_cipher c) {
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

std::string normalize(std::string_view fp) {
    std::string out;
    for (char ch : fp) {
        if (ch == ':') continue;
        out += (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch - 'A' + 'a') : ch;
    }
    return out;
}

// Replaces OpenSSL's chain verification: the only certificate we trust is the one whose
// fingerprint the server reported over the control channel.
int verify_pinned(X509_STORE_CTX* store, void* arg) {
    const auto* ctx = static_cast<const context*>(arg);
    X509* cert = X509_STORE_CTX_get0_cert(store);
    std::string got = cert ? fingerprint_of(cert) : std::string("(no certificate)");
    if (got == ctx->expected_fingerprint) return 1;
    auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (auto* msg = ssl ? static_cast<std::string*>(SSL_get_ex_data(ssl, verify_message_index())) : nullptr)
        *msg = "certificate fingerprint mismatch: expected " + ctx->expected_fingerprint + ", got " + got;
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
}

// Decides what kTLS to attempt and demand. Errors here come before any connection is made.
result<ktls_plan> plan_ktls(const tls_spec& spec) {
    ktls_plan plan;
    if (spec.mode == tls_mode::automatic) {
        if (ktls_available())
            plan.attempt = true;
        else
            plan.note = "auto: " + ktls_unavailable_reason() + "; TLS runs in user space";
        return plan;
    }
    if (spec.mode != tls_mode::ktls || (!spec.ktls_tx && !spec.ktls_rx)) return plan;
    if (!ktls_available()) return fail("kTLS requested but " + ktls_unavailable_reason());
    // OpenSSL 3.0/3.1 offload TLS 1.3 only for sending, and offload both TLS 1.2 directions
    // together; a direction we cannot honour fails here rather than being reported wrongly.
    constexpr bool tls13_rx = OPENSSL_VERSION_NUMBER >= 0x30200000L;
    if (spec.ktls_rx && spec.version == tls_version::v1_3 && !tls13_rx)
        return fail(std::string("kTLS receive with TLS 1.3 needs OpenSSL 3.2 or later (this is ") +
                    OPENSSL_VERSION_TEXT + "); use tls_version: 1.2, or ktls with {tx: true, rx: false}");
    if (spec.ktls_tx != spec.ktls_rx && spec.version == tls_version::v1_2)
        return fail("kTLS for one direction only is not possible with TLS 1.2 through OpenSSL, which "
                    "offloads both; use both directions, or tls_version: 1.3 with {tx: true, rx: false}");
    if (!spec.ktls_tx && spec.version == tls_version::v1_3)
        return fail(
            "kTLS receive only with TLS 1.3 is not supported; use tls_version: 1.2 with both directions");
    plan.attempt = true;
    plan.require_tx = spec.ktls_tx;
    plan.require_rx = spec.ktls_rx;
    return plan;
}

result<std::shared_ptr<context>> base_context(const tls_spec& spec, bool server) {
    if (spec.mode == tls_mode::none) return fail("TLS context requested with tls: none");
    // OpenSSL writes to sockets with write()/sendmsg() without MSG_NOSIGNAL; a peer that goes
    // away mid-run must show up as an EPIPE error on the flow, not kill the agent.
    static std::once_flag sigpipe;
    std::call_once(sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });

    auto plan = plan_ktls(spec);
    if (!plan) return fail(plan.error());
    auto ctx = std::make_shared<context>();
    ctx->server = server;
    ctx->mode = spec.mode;
    ctx->ktls = std::move(*plan);
    ERR_clear_error();
    ctx->ssl.reset(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
    SSL_CTX* c = ctx->ssl.get();
    if (!c) return fail("SSL_CTX_new: " + openssl_errors());
    int v = spec.version == tls_version::v1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;
    bool ok = SSL_CTX_set_min_proto_version(c, v) == 1 && SSL_CTX_set_max_proto_version(c, v) == 1 &&
              SSL_CTX_set_ciphersuites(c, suite13(spec.cipher)) == 1 &&
              SSL_CTX_set_cipher_list(c, suite12(spec.cipher)) == 1;
    if (!ok) return fail("TLS version/cipher setup: " + openssl_errors());
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // A peer closing without close_notify ends the stream (teardown of a measurement), no error.
    std::uint64_t opts = SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET;
    if (ctx->ktls.attempt) opts |= SSL_OP_ENABLE_KTLS;
    SSL_CTX_set_options(c, opts);
    // Without kTLS, read-ahead lets one read() fetch several records, as a tuned server would.
    if (!ctx->ktls.attempt) SSL_CTX_set_read_ahead(c, 1);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    return ctx;
}

} // namespace

int verify_message_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

result<std::shared_ptr<const context>> make_server_context(const identity& id, const tls_spec& spec) {
    if (!id.key || !id.cert) return fail("TLS server context: no identity (make_identity first)");
    auto ctx = base_context(spec, true);
    if (!ctx) return fail(ctx.error());
    SSL_CTX* c = (*ctx)->ssl.get();
    // No session tickets: nothing arrives after the handshake but application data, which keeps
    // kTLS receive simple and makes every tcp_crr connection pay a full handshake.
    SSL_CTX_set_num_tickets(c, 0);
    if (SSL_CTX_use_certificate(c, id.cert.get()) != 1 || SSL_CTX_use_PrivateKey(c, id.key.get()) != 1 ||
        SSL_CTX_check_private_key(c) != 1)
        return fail("TLS server identity: " + openssl_errors());
    return std::shared_ptr<const context>(std::move(*ctx));
}

result<std::shared_ptr<const context>> make_client_context(const tls_spec& spec) {
    std::string expected = normalize(spec.peer_fingerprint);
    if (expected.size() != 64 || expected.find_first_not_of("0123456789abcdef") != std::string::npos)
        return fail("TLS client: the server certificate fingerprint to pin must be 64 hex digits, got '" +
                    spec.peer_fingerprint + "'");
    auto ctx = base_context(spec, false);
    if (!ctx) return fail(ctx.error());
    (*ctx)->expected_fingerprint = std::move(expected);
    SSL_CTX* c = (*ctx)->ssl.get();
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(c, verify_pinned, ctx->get());
    return std::shared_ptr<const context>(std::move(*ctx));
}

} // namespace kp::engine::tls
