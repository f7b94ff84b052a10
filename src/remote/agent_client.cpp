#include "remote/agent_client.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/wire/codec.hpp"
#include "remote/keepalive.hpp"
#include "remote/protocol.hpp"

namespace kp::remote {

namespace {

using json = nlohmann::json;
using clock = std::chrono::steady_clock;

// How long the reader waits in one read_some before it checks whether it should stop.
constexpr auto poll_interval = std::chrono::milliseconds(200);
// The agent enforces each request's timeout itself; the client waits this much longer for the
// reply so the agent's own, more precise error wins.
constexpr auto reply_grace = std::chrono::seconds(3);
constexpr auto shutdown_timeout = std::chrono::seconds(2);

bool is_read_timeout(const error& e) {
    return e.kind == error_kind::timeout;
}

std::int64_t steady_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
}

/// Requests the agent serves on its reader thread that may run past the idle limit (the user's
/// setup commands, up to their timeout): its pings are not answered meanwhile, so silence does
/// not count against it while one is outstanding; the call's own timeout covers it.
bool holds_reader(protocol::request_type t) {
    return t == protocol::request_type::setup_apply || t == protocol::request_type::setup_restore;
}

} // namespace

/// A reply slot for one outstanding request.
struct pending_call {
    bool done = false;
    result<json> outcome = json();
    std::int64_t received_ns = 0; ///< the runner's CLOCK_REALTIME when the reply's bytes came in
};

/// The runner's CLOCK_REALTIME around one request, for the clock request's estimate.
struct call_stamps {
    std::int64_t sent_ns = 0, received_ns = 0;
};

struct agent_client::impl {
    std::string host;
    std::unique_ptr<transport> link;
    capabilities caps;

    std::mutex write_mutex;
    std::mutex mutex; // guards everything below
    std::condition_variable replied;
    std::map<std::uint64_t, std::shared_ptr<pending_call>> pending;
    std::uint64_t next_id = 1;
    bool dead = false;
    std::string dead_reason;
    std::atomic<bool> stopping{false}; // the reader should return
    std::atomic<bool> closing{false};  // shutdown() asked the agent to exit
    std::atomic<bool> alive{true};
    std::atomic<bool> unresponsive{false}; ///< a request went unanswered past its timeout
    std::once_flag shut;
    std::thread reader;

    // Keepalive (remote/keepalive.hpp); all unused while `keepalive` is 0.
    std::chrono::milliseconds keepalive{0};
    std::atomic<std::int64_t> last_rx_ns{0}, last_tx_ns{0}; ///< steady clock: bytes in, a frame out
    std::atomic<int> holding_reader{0};                     ///< outstanding holds_reader() calls
    std::condition_variable ticker;                         ///< wakes the pinger to stop
    std::thread pinger;

    /// Marks the agent gone and fails every outstanding request with `reason`.
    void die(std::string reason) {
        std::lock_guard lock(mutex);
        alive = false;
        if (dead) return;
        dead = true;
        dead_reason = std::move(reason);
        for (auto& [id, call] : pending) {
            call->done = true;
            call->outcome = fail(dead_reason);
        }
        pending.clear();
        replied.notify_all();
    }

    void deliver(protocol::reply r, std::int64_t received_ns) {
        std::lock_guard lock(mutex);
        auto it = pending.find(*r.id);
        if (it == pending.end()) return; // its caller gave up waiting
        auto& call = *it->second;
        call.done = true;
        call.received_ns = received_ns;
        if (r.ok) {
            call.outcome = std::move(r.result);
        } else {
            // The agent's context names the request, which rpc() adds with the host: once.
            error e = make_error(std::move(r.error.message), r.error.kind);
            e.consequence = r.error.consequence;
            call.outcome = fail(std::move(e));
        }
        pending.erase(it);
        replied.notify_all();
    }

    void read_loop() {
        protocol::frame_decoder decoder;
        std::array<std::byte, 64 * 1024> buf;
        while (!stopping) {
            auto n = link->read_some(buf, poll_interval);
            const std::int64_t received_ns = engine::real_ns(); // before decoding: the clock's edge
            if (!n) {
                if (is_read_timeout(n.error())) continue;
                die(fmt::format("lost the control stream of the agent on host {}: {}", host,
                                n.error().message));
                return;
            }
            if (*n == 0) {
                if (closing) {
                    die(fmt::format("agent on host {} was shut down", host));
                    return;
                }
                std::string status = link->exit_status();
                die(fmt::format("agent on host {} exited ({})", host,
                                status.empty() ? "end of stream" : status));
                return;
            }
            last_rx_ns = steady_ns();
            decoder.feed(std::span<const std::byte>(buf.data(), *n));
            for (;;) {
                auto frame = decoder.next();
                if (!frame) {
                    die(fmt::format("agent on host {}: bad control stream: {}", host, frame.error().message));
                    return;
                }
                if (!*frame) break;
                auto r = protocol::parse_reply(**frame);
                if (!r) {
                    die(fmt::format("agent on host {}: {}", host, r.error().message));
                    return;
                }
                if (!r->id) {
                    // The agent could not read one of our requests: a bug on one side.
                    die(fmt::format("agent on host {} rejected a request: {}", host, r->error.message));
                    return;
                }
                deliver(std::move(*r), received_ns);
            }
        }
    }

    /// Writes one frame; the write mutex keeps frames whole.
    result<void> send_frame(const std::string& frame, std::int64_t* sent_ns = nullptr) {
        std::lock_guard lock(write_mutex);
        if (sent_ns) *sent_ns = engine::real_ns();
        auto sent = link->write_all(std::as_bytes(std::span(frame.data(), frame.size())));
        last_tx_ns = steady_ns();
        return sent;
    }

    /// The keepalive thread: a ping when nothing else was sent for an interval, and the agent
    /// given up once nothing came back for the idle limit. A ping has no caller waiting: its
    /// reply is dropped on arrival (deliver() finds no slot) and only its bytes count.
    void keepalive_loop() {
        const auto limit = keepalive::idle_limit(keepalive);
        const auto limit_ns = std::chrono::nanoseconds(limit).count();
        const auto interval_ns = std::chrono::nanoseconds(keepalive).count();
        const auto tick = std::max(keepalive / 4, std::chrono::milliseconds(1));
        std::unique_lock lock(mutex);
        for (;;) {
            if (ticker.wait_for(lock, tick, [&] { return stopping || dead; })) return;
            lock.unlock();
            const std::int64_t now = steady_ns();
            if (holding_reader > 0) {
                last_rx_ns = now; // the silence counts from the end of the long request
            } else if (now - last_rx_ns >= limit_ns) {
                unresponsive = true;
                die(fmt::format("agent on host {} stopped answering: nothing received for {} (keepalive "
                                "probes every {})",
                                host, keepalive::describe(limit), keepalive::describe(keepalive)));
                return;
            }
            if (now - last_tx_ns >= interval_ns) {
                protocol::request ping;
                ping.type = protocol::request_type::ping;
                ping.timeout = keepalive;
                {
                    std::lock_guard l(mutex);
                    ping.id = next_id++;
                }
                // A failed write is the reader's to report (it sees the stream end).
                (void)send_frame(protocol::encode_frame(protocol::to_json(ping)));
            }
            lock.lock();
        }
    }

    /// Sends one request and waits for its reply; errors are bare (the caller adds context).
    /// `stamps`, when given, gets the runner's clock as the request left and the reply came in.
    result<json> call(protocol::request_type type, json args, std::chrono::milliseconds timeout,
                      call_stamps* stamps = nullptr) {
        auto slot = std::make_shared<pending_call>();
        protocol::request req;
        req.type = type;
        req.timeout = timeout;
        req.args = std::move(args);
        {
            std::lock_guard lock(mutex);
            if (dead) return fail(dead_reason);
            req.id = next_id++;
            pending.emplace(req.id, slot);
        }
        // Declared before the lock below, so it lets go after it on every return.
        struct holding {
            std::atomic<int>* count;
            ~holding() {
                if (count) --*count;
            }
        } hold{holds_reader(type) ? &holding_reader : nullptr};
        if (hold.count) ++holding_reader;
        result<void> sent =
            send_frame(protocol::encode_frame(protocol::to_json(req)), stamps ? &stamps->sent_ns : nullptr);
        std::unique_lock lock(mutex);
        if (!sent) {
            // A broken pipe usually means the agent died: give the reader a moment to say how.
            replied.wait_for(lock, std::chrono::seconds(1), [&] { return slot->done; });
            if (!slot->done) {
                pending.erase(req.id);
                return fail(fmt::format("sending to the agent on host {}: {}", host, sent.error().message));
            }
            return slot->outcome;
        }
        if (!replied.wait_for(lock, timeout + reply_grace, [&] { return slot->done; })) {
            pending.erase(req.id);
            unresponsive = true;
            return fail(make_error(
                fmt::format(
                    "no reply from the agent on host {} within {} ms", host,
                    std::chrono::duration_cast<std::chrono::milliseconds>(timeout + reply_grace).count()),
                error_kind::timeout));
        }
        if (stamps) stamps->received_ns = slot->received_ns;
        return slot->outcome;
    }

    /// call() with typed arguments and reply, and "host b: <what>" context on any error.
    template <class Reply, class Args>
    result<Reply> rpc(std::string_view what, protocol::request_type type, const Args& args,
                      std::chrono::milliseconds t) {
        auto r = call(type, engine::wire::encode(args), t);
        if (!r) return fail(r.error().context(fmt::format("host {}: {}", host, what)));
        auto decoded = engine::wire::decode<Reply>(*r, "reply");
        if (!decoded)
            return fail(decoded.error().context(fmt::format("host {}: {}: agent's reply", host, what)));
        return decoded;
    }
};

agent_client::agent_client(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

agent_client::~agent_client() {
    shutdown();
}

result<std::unique_ptr<agent_client>> agent_client::start(std::string host_name, std::unique_ptr<transport> t,
                                                          timeout hello_timeout, timeout keepalive) {
    auto i = std::make_unique<impl>();
    i->host = std::move(host_name);
    i->link = std::move(t);
    impl* raw = i.get();
    std::unique_ptr<agent_client> client(new agent_client(std::move(i)));
    raw->reader = std::thread([raw] { raw->read_loop(); });

    // The hello keeps its shape forever: the version is checked before the strict decoding, so
    // an agent of another version is named as such, whatever else its capabilities hold.
    const auto keepalive_ms = static_cast<std::uint32_t>(
        std::clamp<timeout::rep>(keepalive.count(), 0, std::numeric_limits<std::uint32_t>::max()));
    auto hello = raw->rpc<json>("hello", protocol::request_type::hello,
                                hello_args{protocol::version, build_id(), keepalive_ms}, hello_timeout);
    if (!hello) return fail(hello.error());
    if (auto v = hello->find("protocol_version"); v != hello->end() && *v != protocol::version)
        return fail(
            fmt::format("host {}: hello: protocol version mismatch: runner speaks {}, agent speaks {}",
                        raw->host, protocol::version, v->dump()));
    auto caps = engine::wire::decode<capabilities>(*hello, "capabilities");
    if (!caps) return fail(caps.error().context(fmt::format("host {}: hello: agent's reply", raw->host)));
    raw->caps = std::move(*caps);
    if (keepalive_ms > 0) {
        raw->keepalive = timeout(keepalive_ms);
        raw->last_rx_ns = raw->last_tx_ns = steady_ns();
        raw->pinger = std::thread([raw] { raw->keepalive_loop(); });
    }
    return client;
}

const capabilities& agent_client::caps() const {
    return impl_->caps;
}

const std::string& agent_client::host() const {
    return impl_->host;
}

result<nlohmann::json> agent_client::environment(timeout t) {
    return impl_->rpc<json>("environment", protocol::request_type::environment, no_fields{}, t);
}

result<listen_reply> agent_client::listen(const std::string& instance, const engine::job_spec& job,
                                          const engine::endpoint& bind, timeout t) {
    return impl_->rpc<listen_reply>("listen " + instance, protocol::request_type::listen,
                                    listen_args{instance, bind, job}, t);
}

result<listen_reply> agent_client::forward(const std::string& instance, const engine::job_spec& job,
                                           const engine::endpoint& bind, const engine::endpoint& next,
                                           timeout t) {
    return impl_->rpc<listen_reply>("forward " + instance, protocol::request_type::forward,
                                    forward_args{instance, bind, next, job}, t);
}

result<void> agent_client::connect(const std::string& instance, const engine::job_spec& job,
                                   const engine::endpoint& server, timeout t) {
    auto r = impl_->rpc<no_fields>("connect " + instance, protocol::request_type::connect,
                                   connect_args{instance, server, job}, t);
    if (!r) return fail(r.error());
    return {};
}

namespace {
/// The requests that name only an instance and reply with nothing.
result<void> on_instance(agent_client::impl& i, protocol::request_type type, const std::string& instance,
                         agent_client::timeout t) {
    auto r = i.rpc<no_fields>(fmt::format("{} {}", protocol::to_string(type), instance), type,
                              instance_args{instance}, t);
    if (!r) return fail(r.error());
    return {};
}
} // namespace

result<void> agent_client::establish(const std::string& instance, timeout t) {
    return on_instance(*impl_, protocol::request_type::establish, instance, t);
}

result<void> agent_client::start(const std::string& instance, timeout t, std::int64_t at_ns) {
    auto r = impl_->rpc<no_fields>("start " + instance, protocol::request_type::start,
                                   start_args{instance, at_ns}, t);
    if (!r) return fail(r.error());
    return {};
}

result<clock_reading> agent_client::clock(timeout t) {
    call_stamps st;
    auto r = impl_->call(protocol::request_type::clock, json::object(), t, &st);
    if (!r) return fail(r.error().context(fmt::format("host {}: clock", impl_->host)));
    auto reply = engine::wire::decode<clock_reply>(*r, "reply");
    if (!reply) return fail(reply.error().context(fmt::format("host {}: clock: agent's reply", impl_->host)));
    return clock_reading{reply->realtime_ns, st.sent_ns, st.received_ns};
}

result<engine::side_result> agent_client::wait(const std::string& instance, timeout t) {
    return impl_->rpc<engine::side_result>("wait " + instance, protocol::request_type::wait,
                                           instance_args{instance}, t);
}

result<std::vector<engine::sample>> agent_client::samples(const std::string& instance, timeout t) {
    auto r = impl_->rpc<samples_reply>("samples " + instance, protocol::request_type::samples,
                                       instance_args{instance}, t);
    if (!r) return fail(r.error());
    return std::move(r->samples);
}

result<void> agent_client::stop(const std::string& instance, timeout t) {
    return on_instance(*impl_, protocol::request_type::stop, instance, t);
}

result<engine::side_result> agent_client::collect(const std::string& instance, timeout t) {
    return impl_->rpc<engine::side_result>("collect " + instance, protocol::request_type::collect,
                                           instance_args{instance}, t);
}

result<void> agent_client::release(const std::string& instance, timeout t) {
    return on_instance(*impl_, protocol::request_type::release, instance, t);
}

result<setup_reply> agent_client::setup_apply(const setup_apply_args& a, timeout t) {
    return impl_->rpc<setup_reply>("setup " + a.setup, protocol::request_type::setup_apply, a, t);
}

result<setup_reply> agent_client::setup_restore(const std::string& setup, timeout t) {
    return impl_->rpc<setup_reply>("restore setup " + setup, protocol::request_type::setup_restore,
                                   setup_restore_args{setup}, t);
}

void agent_client::shutdown() {
    std::call_once(impl_->shut, [this] {
        impl_->closing = true;
        // An agent that stopped answering would only make the polite request wait out its timeout.
        if (alive() && !unresponsive())
            (void)impl_->call(protocol::request_type::shutdown, json::object(), shutdown_timeout);
        {
            std::lock_guard lock(impl_->mutex);
            impl_->stopping = true;
        }
        impl_->ticker.notify_all();
        if (impl_->pinger.joinable()) impl_->pinger.join();
        if (impl_->reader.joinable()) impl_->reader.join();
        impl_->link->close();
        impl_->die(fmt::format("agent on host {} was shut down", impl_->host));
    });
}

bool agent_client::alive() const {
    return impl_->alive;
}

bool agent_client::unresponsive() const {
    return impl_->unresponsive;
}

} // namespace kp::remote
