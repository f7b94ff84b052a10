#pragma once
/// TLS on data connections: an ephemeral in-memory identity for the server, a certificate pinned by
/// fingerprint on the client, handshakes with a deadline, and a stream_io over the TLS session that
/// runs in user space (SSL_read/SSL_write) or with the record layer in the kernel (kTLS).
///
/// Use per session side:
///   server: identity id = make_identity();  ctx = make_server_context(id, spec)   (once, at listen())
///           session::tls_fingerprint() returns id.fingerprint, which the runner hands to the client
///   client: ctx = make_client_context(spec)  (spec.peer_fingerprint set; once, at connect())
///   each data connection, after the plain-text hello: io = handshake(fd, *ctx, deadline, report)
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/error.hpp"
#include "engine/core/io.hpp"
#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"

// OpenSSL's types, declared here so this header does not pull in <openssl/*.h>.
struct evp_pkey_st;
struct x509_st;

namespace kp::engine::tls {

/// An ephemeral key and self-signed certificate, generated in memory (never written to disk).
struct identity {
    std::shared_ptr<evp_pkey_st> key;
    std::shared_ptr<x509_st> cert;
    std::string fingerprint; ///< SHA-256 of the DER certificate, lowercase hex (64 characters)
};

/// Generates a fresh P-256 key and a self-signed certificate valid for a day.
result<identity> make_identity();

/// True when this kernel has the TLS ULP (setsockopt TCP_ULP "tls" succeeds on a loopback
/// TCP connection). Probed once per process; later calls return the cached answer.
bool ktls_available();
/// Why kTLS is unavailable, e.g. "kernel has no TLS ULP (setsockopt TCP_ULP \"tls\": No such file
/// or directory); load the tls module or build the kernel with CONFIG_TLS"; empty when available.
std::string ktls_unavailable_reason();

/// An SSL_CTX set up for one side of a job: version pinned, cipher pinned, kTLS as the mode asks,
/// the identity (server) or the pinned fingerprint (client). Thread-safe to share between workers.
class context;

/// Builds the server's context. Fails before any traffic when the mode is `ktls` and the kernel
/// (or this OpenSSL) cannot offload a requested direction.
result<std::shared_ptr<const context>> make_server_context(const identity& id, const tls_spec& spec);
/// Builds the client's context; `spec.peer_fingerprint` must be set. Same kTLS checks as the server.
result<std::shared_ptr<const context>> make_client_context(const tls_spec& spec);

/// Runs the TLS handshake on a connected socket until `deadline` (poll on the fd; never hangs).
/// The fd is made non-blocking; on success the returned stream owns the fd and the SSL session
/// and `out` holds the path per direction, version, cipher and handshake time. On failure the fd
/// is still the caller's to close. Errors read like "TLS handshake: certificate fingerprint
/// mismatch: expected X, got Y"; the caller adds host and flow context.
result<std::unique_ptr<stream_io>> handshake(int fd, const context& ctx,
                                             std::chrono::steady_clock::time_point deadline, tls_report& out);

/// A handshake driven from the caller's own epoll loop (tcp_crr): call step() on readiness until it
/// returns ok, then finish(). The fd is made non-blocking; until finish() the caller owns it.
class pending {
  public:
    virtual ~pending() = default;
    /// ok: handshake done; retry: wait for EPOLLIN (or EPOLLOUT with want_write); closed: the
    /// peer closed or reset the connection; error: the handshake failed. For both, see failure().
    virtual io_result step() noexcept = 0;
    /// After step() returned closed or error: what went wrong.
    [[nodiscard]] virtual error failure() const = 0;
    /// After step() returned ok: checks the kTLS outcome against the mode, fills `out` (the
    /// handshake time counts from start()), and hands back the stream, which now owns the fd.
    virtual result<std::unique_ptr<stream_io>> finish(tls_report& out) = 0;
};

/// Begins a non-blocking handshake on `fd` as the side `ctx` was made for.
result<std::unique_ptr<pending>> start(int fd, const context& ctx);

/// One reading of /proc/net/tls_stat: counter name and value. Empty when the file does not exist.
using tls_stat = std::vector<std::pair<std::string, std::uint64_t>>;
/// Reads /proc/net/tls_stat (no kTLS in the kernel: empty).
tls_stat read_tls_stat();
/// `after - before` per counter present in both; gauges (TlsCurr*) are reported as their end value.
tls_stat tls_stat_delta(const tls_stat& before, const tls_stat& after);

} // namespace kp::engine::tls
