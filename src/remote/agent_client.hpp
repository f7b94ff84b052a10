#pragma once
/// The runner's handle on one agent: sends typed requests over a transport and matches replies.
/// One per host for the whole plan. Thread-safe: several requests may be outstanding at once
/// (wait on one instance while stop is sent from another thread).
///
/// Every error carries its context once ("host b: start rr/1: no instance 'rr/1'"), the kind the
/// agent gave it (usage, infrastructure, timeout) and whether it is only a consequence of the peer
/// side's failure; a reply that does not arrive in time is a timeout too.
/// When the agent dies, every outstanding and later request fails at once with
/// "agent on host b exited (killed by signal 9)" instead of hanging.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "engine/core/job.hpp"
#include "engine/session/session.hpp"
#include "engine/stats/result.hpp"
#include "remote/capabilities.hpp"
#include "remote/messages.hpp"
#include "remote/transport.hpp"

namespace kp::remote {

/// One clock request: the host's CLOCK_REALTIME and the runner's as the request was written and
/// as the reply's bytes came in (read by the reader thread, so the caller's wake-up is not in it).
struct clock_reading {
    std::int64_t host_ns = 0, sent_ns = 0, received_ns = 0;
};

/// A connection to one agent process (local or over SSH).
class agent_client {
  public:
    using timeout = std::chrono::milliseconds;

    /// Takes over `t`, exchanges hellos (protocol version check) within `hello_timeout`.
    /// `keepalive` above 0: sends a ping when nothing else was sent for that long, the agent exits
    /// after keepalive::idle_limit() without contact, and so does this client give it up
    /// (remote/keepalive.hpp). 0: neither side ever gives up on silence.
    static result<std::unique_ptr<agent_client>> start(std::string host_name, std::unique_ptr<transport> t,
                                                       timeout hello_timeout, timeout keepalive = timeout{0});
    ~agent_client(); ///< shutdown()
    agent_client(const agent_client&) = delete;
    agent_client& operator=(const agent_client&) = delete;

    /// The agent's hello: versions, CPUs, kernel, kTLS, interfaces.
    [[nodiscard]] const capabilities& caps() const;
    /// The host name this client was started with, for messages.
    [[nodiscard]] const std::string& host() const;

    /// The environment manifest of the agent's host (see probe_environment()).
    result<nlohmann::json> environment(timeout t);

    /// Creates the server side of `instance` and opens its listening socket on `bind` (port 0: any).
    result<listen_reply> listen(const std::string& instance, const engine::job_spec& job,
                                const engine::endpoint& bind, timeout t);
    /// Creates the client side of `instance` towards `server`; the flows open in establish().
    result<void> connect(const std::string& instance, const engine::job_spec& job,
                         const engine::endpoint& server, timeout t);
    /// Creates a forwarder `instance` listening on `bind` (port 0: any) and relaying each admitted
    /// connection to `next`; it relays at once (no establish). wait()/collect() carry `relay`.
    result<listen_reply> forward(const std::string& instance, const engine::job_spec& job,
                                 const engine::endpoint& bind, const engine::endpoint& next, timeout t);
    /// Completes the data connections of `instance` (both sides must be asked, concurrently).
    result<void> establish(const std::string& instance, timeout t);
    /// Starts traffic at `at_ns` (the agent host's CLOCK_REALTIME, ns; 0: now); the engine runs
    /// warm-up then duration and stops on its own. Answered once the workers are ready, before
    /// the instant; an instant more than 60 s ahead is a usage error.
    result<void> start(const std::string& instance, timeout t, std::int64_t at_ns = 0);
    /// The agent host's CLOCK_REALTIME, read just before its reply, with the runner's own
    /// around it (remote/clock.hpp estimates the offset from these).
    result<clock_reading> clock(timeout t);
    /// Waits for `instance` to finish (at most `t`), then returns its collected figures.
    result<engine::side_result> wait(const std::string& instance, timeout t);
    /// The per-second samples of running `instance` closed so far (a wait() may be pending).
    result<std::vector<engine::sample>> samples(const std::string& instance, timeout t);
    /// Stops traffic of `instance` now; a pending wait() then returns.
    result<void> stop(const std::string& instance, timeout t);
    /// The figures of `instance` after stop() (wait() already returns them).
    result<engine::side_result> collect(const std::string& instance, timeout t);
    /// Drops the session of `instance` on the agent, closing its sockets and freeing its ports.
    result<void> release(const std::string& instance, timeout t = std::chrono::seconds(5));

    /// Applies a setup on the agent's host (remote/setup.hpp); the reply says what it changed.
    /// A failing step is an error naming it; the agent has then undone the rest.
    result<setup_reply> setup_apply(const setup_apply_args& a, timeout t);
    /// Puts a setup back; the reply's `errors` list what could not be.
    result<setup_reply> setup_restore(const std::string& setup, timeout t);

    /// Politely asks the agent to exit, then closes the transport. Idempotent.
    void shutdown();
    /// False once the agent exited or the stream broke.
    [[nodiscard]] bool alive() const;
    /// True once a request went unanswered past its timeout, or the agent past the keepalive's
    /// idle limit (a hung host, a partition): the runner then declares the host dead rather than
    /// wait out every later request.
    [[nodiscard]] bool unresponsive() const;

    struct impl;

  private:
    explicit agent_client(std::unique_ptr<impl> i);
    std::unique_ptr<impl> impl_;
};

} // namespace kp::remote
