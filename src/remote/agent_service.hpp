#pragma once
/// The agent's request handlers and the engine sessions they drive, apart from the stdio loop
/// (agent.cpp) so they stay small. Quick requests run on the caller's (reader's) thread; the
/// long ones (establish, wait) on their own threads, so stop can arrive while wait is pending.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "engine/session/session.hpp"
#include "remote/capabilities.hpp"
#include "remote/messages.hpp"
#include "remote/protocol.hpp"
#include "remote/setup.hpp"

namespace kp::remote {

/// How the service creates engine sessions: engine::listen / engine::connect in the agent,
/// fakes in tests.
struct session_factory {
    std::function<result<std::unique_ptr<engine::session>>(const engine::job_spec&, const engine::endpoint&)>
        listen;
    std::function<result<std::unique_ptr<engine::session>>(const engine::job_spec&, const engine::endpoint&)>
        connect;
    /// A forwarder on `bind` relaying to `next` (engine::open_forwarder); empty: not offered.
    std::function<result<std::unique_ptr<engine::session>>(const engine::job_spec&, const engine::endpoint&,
                                                           const engine::endpoint&)>
        forward;
};

/// Serves requests; thread-safe. Create through std::make_shared (threads keep it alive).
class agent_service : public std::enable_shared_from_this<agent_service> {
  public:
    using sender = std::function<void(const protocol::reply&)>;
    /// `send` is called from several threads, one reply at a time per call; it must serialize.
    agent_service(sender send, capabilities caps, session_factory sessions);
    ~agent_service();

    /// Handles one request; its reply goes to `send`, now or later from a worker thread.
    void handle(const protocol::request& r);
    /// True after a shutdown request was answered.
    [[nodiscard]] bool shutdown_requested() const;
    /// How long the agent may hear nothing from its runner before it gives up: the hello's
    /// keepalive_ms through keepalive::idle_limit(); 0 (never) until a hello asked for it.
    [[nodiscard]] std::chrono::milliseconds idle_limit() const;
    /// Stops the traffic of every session (end of stream, shutdown).
    void stop_all();
    /// Waits until no worker thread runs, at most until `deadline`; true when idle.
    bool wait_idle(std::chrono::steady_clock::time_point deadline);
    /// Drops every session, closing their sockets. Call when idle.
    void release_all();
    /// Puts back every setup still applied (end of stream, shutdown); one line per error.
    std::vector<std::string> restore_setups();

    struct instance; ///< one engine session and its state (agent_service.cpp)

  private:
    using json = nlohmann::json;
    using outcome = std::expected<json, protocol::wire_error>;
    /// Whether a handler answered on the spot or a worker thread sends the reply later.
    enum class timing : std::uint8_t { now, later };
    struct answer {
        timing when = timing::now;
        outcome value;
        answer(outcome o) : value(std::move(o)) {} // NOLINT: every plain outcome is answered now
        static answer later() {
            answer a{outcome{}};
            a.when = timing::later;
            return a;
        }
    };

    answer dispatch(const protocol::request& r);
    outcome hello(const json& args);
    outcome create(const protocol::request& r);
    outcome quick(const protocol::request& r);
    outcome release(const json& args);
    /// Runs establish or wait on a thread; the reply is sent from there.
    answer spawn_long(const protocol::request& r);
    outcome run_long(const protocol::request& r, const std::shared_ptr<instance>& inst);
    using found = std::expected<std::shared_ptr<instance>, protocol::wire_error>;
    /// The instance that `args` (instance_args) names; lookup() by its name.
    found find(const json& args, std::string_view what);
    found lookup(const std::string& name, std::string_view what);
    void reply(const protocol::request& r, outcome o);
    outcome setup(const protocol::request& r);

    sender send_;
    capabilities caps_;
    session_factory sessions_;
    mutable std::mutex mutex_;
    std::condition_variable idle_;
    std::map<std::string, std::shared_ptr<instance>> instances_;
    host_setups setups_; ///< thread-safe on its own
    int running_ = 0;    // worker threads alive
    bool greeted_ = false;
    bool shutdown_ = false;
    std::chrono::milliseconds idle_limit_{0};
};

} // namespace kp::remote
