#pragma once
/// One side of one scenario instance: a server that listens and accepts the job's flows,
/// or a client that connects them. The agent drives it through these steps:
///   server: listen() -> (tell the runner the port and fingerprint) -> establish() -> start() ->
///   wait()/stop() -> collect() client: connect() (opens and checks the flows)            -> establish() ->
///   start() -> wait()/stop() -> collect()
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/error.hpp"
#include "engine/core/hello.hpp"
#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"

namespace kp::engine {

/// An address and port of a data-plane endpoint.
struct endpoint {
    std::string address;
    std::uint16_t port = 0;
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// After its window a side stops as soon as it has closed cleanly with its peer (TCP: FINs
/// exchanged; UDP: the end note; tcp_crr server: every client flow finished); it waits at most
/// this long for a peer that stays silent.
inline constexpr std::chrono::milliseconds silent_peer_timeout{1000};

/// How far ahead of now session::start() accepts a start instant.
inline constexpr std::chrono::seconds max_start_ahead{60};

/// The monotonic time (ns) of the CLOCK_REALTIME instant `go_realtime_ns`, converted once:
/// now when 0 or in the past; a usage error beyond max_start_ahead.
result<std::int64_t> start_instant(std::int64_t go_realtime_ns);

/// One side of a running job. Not thread-safe: one controller thread drives it.
class session {
  public:
    virtual ~session() = default;

    /// The bound port (server side); the local port of the first flow (client side).
    [[nodiscard]] virtual std::uint16_t port() const = 0;
    /// SHA-256 fingerprint (hex) of the ephemeral TLS certificate; empty without TLS.
    [[nodiscard]] virtual std::string tls_fingerprint() const = 0;

    /// Completes the data connections (accepts / connects, hello with token, Rx CPU,
    /// distinct_rx matching, TLS handshake) before `deadline`.
    virtual result<void> establish(std::chrono::steady_clock::time_point deadline) = 0;

    /// Creates and pins the workers and starts traffic at `go_realtime_ns` (this host's
    /// CLOCK_REALTIME, ns; 0 or past: now). Returns once the workers are ready, without waiting
    /// for that instant, so one caller can start many sessions for the same one; a usage error
    /// when it is more than max_start_ahead away. Measurement begins the job's warm-up after the
    /// instant and lasts its duration; then the workers stop on their own.
    virtual result<void> start(std::int64_t go_realtime_ns = 0) = 0;

    /// Blocks until the workers have finished or `deadline` passes; true when finished.
    virtual bool wait(std::chrono::steady_clock::time_point deadline) = 0;

    /// Stops traffic now (interrupts, a failed peer). Safe to call at any time, more than once.
    virtual void stop() = 0;

    /// The figures of this side; valid after wait() returned true or after stop().
    [[nodiscard]] virtual side_result collect() = 0;

    /// The per-second samples closed so far (every worker past them), while traffic runs: safe
    /// from another thread once start() has returned. For live progress (`run -i`).
    [[nodiscard]] virtual std::vector<sample> live_samples() const { return {}; }
};

/// What a server side enforces beyond the job (its defaults are the agent's).
struct listen_options {
    /// A data connection's hello must be complete this soon after accept, on every data path
    /// (establishing, and tcp_crr's connections while it runs); later, it is refused and counted.
    std::chrono::nanoseconds hello_timeout = default_hello_timeout;
};

/// Opens the listening socket(s) for a server side on `bind_address` (port 0: any).
result<std::unique_ptr<session>> listen(const job_spec& job, const endpoint& bind_address);
/// listen(), with other than the agent's options (one name each, so both convert to a function).
result<std::unique_ptr<session>> listen_with(const job_spec& job, const endpoint& bind_address,
                                             const listen_options& options);

/// Prepares a client side towards `server`; the connections are made in establish().
result<std::unique_ptr<session>> connect(const job_spec& job, const endpoint& server);

} // namespace kp::engine
