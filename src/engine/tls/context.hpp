#pragma once
/// Internal to the TLS module: the context behind tls::context and shared helpers.
#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "engine/tls/tls.hpp"

namespace kp::engine::tls {

/// What a side asks of kTLS, decided once when its context is built.
struct ktls_plan {
    bool attempt = false;    ///< SSL_OP_ENABLE_KTLS is set
    bool require_tx = false; ///< mode ktls: fail the handshake unless TX is in the kernel
    bool require_rx = false; ///< mode ktls: fail the handshake unless RX is in the kernel
    std::string note;        ///< recorded in tls_report (auto falling back)
};

class context {
  public:
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ssl{nullptr, SSL_CTX_free};
    bool server = false;
    tls_mode mode = tls_mode::openssl;
    ktls_plan ktls;
    std::string expected_fingerprint; ///< client: normalized lowercase hex
};

/// SHA-256 of the DER certificate, lowercase hex; empty on failure.
std::string fingerprint_of(const x509_st* cert);
/// Drains OpenSSL's error queue of this thread into one line.
std::string openssl_errors();
/// The SSL ex_data slot where a handshake keeps its verify failure text (a std::string*).
int verify_message_index();

} // namespace kp::engine::tls
