/// TLS sessions on data connections: the handshake (stepwise or blocking with a deadline) and the
/// stream_io over SSL_read/SSL_write. With kTLS, OpenSSL routes those calls to the kernel's record
/// layer (sendmsg/recvmsg on the socket), so one code path serves both.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "engine/tls/context.hpp"
#include "engine/tls/tls.hpp"

namespace kp::engine::tls {
namespace {

using clock = std::chrono::steady_clock;

// Maps SSL_get_error to the stream_io outcome. Only the failure paths clear the error queue, so
// the hot path makes no extra calls; OpenSSL requires an empty queue before the next I/O.
io_result map_error(SSL* ssl, int ret) noexcept {
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return {io_status::retry, 0, false};
    case SSL_ERROR_WANT_WRITE:
        return {io_status::retry, 0, true};
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return {io_status::closed, 0, false};
    case SSL_ERROR_SYSCALL: {
        int err = errno;
        ERR_clear_error();
        if (err == EAGAIN || err == EINTR) return {io_status::retry, 0, false};
        return {io_status::error, 0, false};
    }
    default:
        ERR_clear_error();
        return {io_status::error, 0, false};
    }
}

/// Calls `op(offset, count)` (an SSL_read or SSL_write at that offset) until `len` bytes have
/// moved or OpenSSL stops: bytes already moved are reported first; an end or an error behind
/// them comes back from the next call (OpenSSL keeps that state).
template <class Op> io_result pump(SSL* ssl, std::size_t len, Op op) noexcept {
    std::size_t total = 0;
    while (total < len) {
        int n = op(total, static_cast<int>(std::min<std::size_t>(len - total, INT_MAX)));
        if (n <= 0) {
            io_result end = map_error(ssl, n); // also empties OpenSSL's error queue
            if (total > 0) break;
            return end;
        }
        total += static_cast<std::size_t>(n);
    }
    return {io_status::ok, total, false};
}

class tls_stream final : public stream_io {
  public:
    tls_stream(int fd, SSL* ssl) noexcept : fd_(fd), ssl_(ssl) {}
    ~tls_stream() override {
        // No close_notify: the peer maps a bare EOF to `closed` (SSL_OP_IGNORE_UNEXPECTED_EOF),
        // and a write here could block on teardown or hit a socket the peer already reset.
        SSL_free(ssl_);
        ::close(fd_);
    }
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;

    [[nodiscard]] int fd() const noexcept override { return fd_; }

    // Both calls loop until the buffer is done or OpenSSL would block, because one SSL_read or
    // SSL_write (partial-write mode) moves at most one 16 KiB record. So, as with a plain socket,
    // a short count means the socket is drained (read) or full (write), and callers that stop
    // on a short count lose no readiness.
    io_result read(std::span<std::byte> into) noexcept override {
        return pump(ssl_, into.size(),
                    [&](std::size_t at, int n) { return SSL_read(ssl_, into.data() + at, n); });
    }

    // After a retry the caller offers the same stream bytes again (at least as many), as OpenSSL
    // requires; SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets them come from another address.
    io_result write(std::span<const std::byte> from) noexcept override {
        return pump(ssl_, from.size(),
                    [&](std::size_t at, int n) { return SSL_write(ssl_, from.data() + at, n); });
    }

    [[nodiscard]] bool buffered() const noexcept override { return SSL_has_pending(ssl_) == 1; }

  private:
    int fd_;
    SSL* ssl_;
};

/// Whether a failed handshake step means the peer closed or reset the connection (rather than
/// sending an alert or garbage): a peer that gave up, not a handshake that went wrong.
bool peer_went_away(int ssl_error, int err) noexcept {
    if (ssl_error == SSL_ERROR_ZERO_RETURN) return true;
    const unsigned long top = ERR_peek_error();
    if (ssl_error == SSL_ERROR_SYSCALL && top == 0) return err == 0 || err == ECONNRESET || err == EPIPE;
    return ssl_error == SSL_ERROR_SSL && ERR_GET_REASON(top) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

class pending_handshake final : public pending {
  public:
    pending_handshake(int fd, const context& ctx, SSL* ssl)
        : fd_(fd), ssl_(ssl), server_(ctx.server), mode_(ctx.mode), ktls_(ctx.ktls), started_(clock::now()) {}
    ~pending_handshake() override { SSL_free(ssl_); } // the fd stays the caller's until finish()
    pending_handshake(const pending_handshake&) = delete;
    pending_handshake& operator=(const pending_handshake&) = delete;

    std::string* verify_message() { return &verify_message_; }

    io_result step() noexcept override {
        ERR_clear_error();
        int r = server_ ? SSL_accept(ssl_) : SSL_connect(ssl_);
        if (r == 1) return {};
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ) return {io_status::retry, 0, false};
        if (e == SSL_ERROR_WANT_WRITE) return {io_status::retry, 0, true};
        const int err = errno;
        const bool gone = peer_went_away(e, err);
        record_failure(e);
        return {gone ? io_status::closed : io_status::error, 0, false};
    }

    [[nodiscard]] error failure() const override { return make_error("TLS handshake: " + failure_); }

    result<std::unique_ptr<stream_io>> finish(tls_report& out) override {
        bool tx = BIO_get_ktls_send(SSL_get_wbio(ssl_)) != 0;
        bool rx = BIO_get_ktls_recv(SSL_get_rbio(ssl_)) != 0;
        const char* cipher = SSL_get_cipher_name(ssl_);
        if ((ktls_.require_tx && !tx) || (ktls_.require_rx && !rx))
            return fail(std::string("kTLS requested but OpenSSL left ") +
                        (ktls_.require_tx && !tx ? "sending" : "receiving") + " in user space (" +
                        SSL_get_version(ssl_) + ", " + cipher +
                        "); is this OpenSSL built with kTLS, and does the kernel support the cipher?");
        out.tx_path = tx ? tls_path::kernel : tls_path::user;
        out.rx_path = rx ? tls_path::kernel : tls_path::user;
        out.version = SSL_get_version(ssl_);
        out.cipher = cipher;
        out.handshake_s = std::chrono::duration<double>(clock::now() - started_).count();
        out.note = ktls_.note;
        if (mode_ == tls_mode::automatic && ktls_.attempt && (!tx || !rx))
            out.note = "auto: OpenSSL kept the record layer in user space for" +
                       std::string(!tx ? " sending" : "") + std::string(!tx && !rx ? " and" : "") +
                       std::string(!rx ? " receiving" : "") + " with " + out.version + ", " + out.cipher;
        auto stream = std::make_unique<tls_stream>(fd_, ssl_);
        ssl_ = nullptr;
        return stream;
    }

  private:
    void record_failure(int e) {
        if (!verify_message_.empty()) {
            failure_ = verify_message_;
        } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
            failure_ = errno != 0 ? std::string(std::strerror(errno)) : "connection closed by the peer";
        } else {
            bool rejected = ERR_GET_REASON(ERR_peek_error()) == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE;
            failure_ = openssl_errors();
            if (rejected) failure_ += " (the peer rejected our certificate: fingerprint mismatch?)";
        }
        ERR_clear_error();
    }

    int fd_;
    SSL* ssl_;
    bool server_;
    tls_mode mode_;
    ktls_plan ktls_;
    clock::time_point started_;
    std::string verify_message_;
    std::string failure_;
};

} // namespace

result<std::unique_ptr<pending>> start(int fd, const context& ctx) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return fail(errno_error("TLS: fcntl"));
    ERR_clear_error();
    SSL* ssl = SSL_new(ctx.ssl.get());
    if (!ssl) return fail("SSL_new: " + openssl_errors());
    auto p = std::make_unique<pending_handshake>(fd, ctx, ssl);
    // SSL_set_fd makes a socket BIO that does not close the fd; OpenSSL's kTLS needs a socket BIO.
    if (SSL_set_fd(ssl, fd) != 1 || SSL_set_ex_data(ssl, verify_message_index(), p->verify_message()) != 1)
        return fail("SSL_set_fd: " + openssl_errors());
    return p;
}

result<std::unique_ptr<stream_io>> handshake(int fd, const context& ctx, clock::time_point deadline,
                                             tls_report& out) {
    auto p = start(fd, ctx);
    if (!p) return fail(p.error());
    // Bounded by the deadline: each round waits in poll() at most until then.
    for (;;) {
        io_result r = (*p)->step();
        if (r.status == io_status::ok) return (*p)->finish(out);
        if (r.status != io_status::retry) return fail((*p)->failure());
        auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) return fail("TLS handshake: timed out (no answer from the peer before the deadline)");
        pollfd pfd{fd, static_cast<short>(r.want_write ? POLLOUT : POLLIN), 0};
        int n = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, INT_MAX)));
        if (n < 0 && errno != EINTR) return fail(errno_error("TLS handshake: poll"));
    }
}

} // namespace kp::engine::tls
