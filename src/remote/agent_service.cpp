#include "remote/agent_service.hpp"

#include <thread>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/session/session.hpp"
#include "engine/wire/codec.hpp"
#include "remote/keepalive.hpp"

namespace kp::remote {

using protocol::error_code;
using protocol::request_type;
using protocol::wire_error;

/// Where a session is in its life; the order is the order of the steps.
enum class step : std::uint8_t { created, established, started, finished };

struct agent_service::instance {
    std::string name;
    std::unique_ptr<engine::session> session;
    // Guarded by agent_service::mutex_. `busy` names the operation running on the session
    // outside the lock (the session itself is driven by one thread at a time); stop() is the
    // exception the engine allows from any thread.
    step at = step::created;
    std::string busy;
    bool stopped = false;
};

namespace {

std::unexpected<wire_error> err(error_code code, std::string message, std::string context) {
    return std::unexpected(wire_error{code, std::move(message), std::move(context), protocol::kind_of(code)});
}

/// An engine failure keeps the kind the engine gave it (a usage error stays one across the wire).
std::unexpected<wire_error> engine_err(const error& e, std::string context) {
    return std::unexpected(
        wire_error{error_code::engine, e.message, std::move(context), e.kind, e.consequence});
}

/// Decodes a request's typed arguments; a bad field is a bad_request naming it ("args.bind: missing").
template <class T> std::expected<T, wire_error> args_of(const nlohmann::json& args, std::string_view ctx) {
    auto a = engine::wire::decode<T>(args, "args");
    if (!a) return err(error_code::bad_request, a.error().message, std::string(ctx));
    if constexpr (requires { a->instance; })
        if (a->instance.empty())
            return err(error_code::bad_request, "args.instance: expected a non-empty string",
                       std::string(ctx));
    return *a;
}

std::string_view step_name(step s) {
    switch (s) {
    case step::created:
        return "created";
    case step::established:
        return "established";
    case step::started:
        return "started";
    case step::finished:
        return "finished";
    }
    return "?";
}

} // namespace

agent_service::agent_service(sender send, capabilities caps, session_factory sessions)
    : send_(std::move(send)), caps_(std::move(caps)), sessions_(std::move(sessions)) {}

agent_service::~agent_service() = default;

bool agent_service::shutdown_requested() const {
    std::lock_guard lock(mutex_);
    return shutdown_;
}

std::chrono::milliseconds agent_service::idle_limit() const {
    std::lock_guard lock(mutex_);
    return idle_limit_;
}

void agent_service::handle(const protocol::request& r) {
    answer a{outcome{}};
    // Exceptions are bugs; the agent reports them and stays up for the next request.
    try {
        a = dispatch(r);
    } catch (const std::exception& e) {
        a = answer(err(error_code::internal, fmt::format("internal error: {}", e.what()),
                       std::string(to_string(r.type))));
    }
    if (a.when == timing::later) return; // a worker thread replies
    reply(r, std::move(a.value));
}

void agent_service::reply(const protocol::request& r, outcome o) {
    protocol::reply rep;
    rep.id = r.id;
    rep.ok = o.has_value();
    if (o)
        rep.result = std::move(*o);
    else
        rep.error = std::move(o.error());
    send_(rep);
}

agent_service::answer agent_service::dispatch(const protocol::request& r) {
    if (r.type == request_type::hello) return hello(r.args);
    {
        std::lock_guard lock(mutex_);
        if (!greeted_)
            return outcome(
                err(error_code::no_hello, "expected a hello request first", std::string(to_string(r.type))));
    }
    switch (r.type) {
    case request_type::hello:
        break;
    case request_type::environment:
        return outcome(probe_environment());
    case request_type::ping:
        return outcome(engine::wire::encode(no_fields{})); // arriving was the point
    case request_type::clock:
        // Read as late as possible: the runner takes the reply's arrival as its other edge.
        return outcome(engine::wire::encode(clock_reply{engine::real_ns()}));
    case request_type::listen:
    case request_type::connect:
    case request_type::forward:
        return create(r);
    case request_type::establish:
    case request_type::wait:
        return spawn_long(r);
    case request_type::start:
    case request_type::stop:
    case request_type::collect:
    case request_type::samples:
        return quick(r);
    case request_type::release:
        return release(r.args);
    case request_type::setup_apply:
    case request_type::setup_restore:
        return setup(r);
    case request_type::shutdown: {
        std::lock_guard lock(mutex_);
        shutdown_ = true;
        return outcome(engine::wire::encode(no_fields{}));
    }
    }
    return outcome(err(error_code::unknown_type, "unhandled request type", std::string(to_string(r.type))));
}

agent_service::outcome agent_service::hello(const json& args) {
    // The hello keeps its shape forever: another version is named before the strict decoding.
    if (auto v = args.find("protocol"); v != args.end() && v->is_number() && *v != protocol::version)
        return err(error_code::version_mismatch,
                   fmt::format("protocol version mismatch: runner speaks {}, agent speaks {}", v->dump(),
                               protocol::version),
                   "hello");
    auto a = args_of<hello_args>(args, "hello");
    if (!a) return std::unexpected(a.error());
    std::lock_guard lock(mutex_);
    greeted_ = true;
    idle_limit_ = keepalive::idle_limit(std::chrono::milliseconds(a->keepalive_ms));
    return engine::wire::encode(caps_);
}

namespace {
/// What listen, connect and forward share: the instance, where, and the job.
struct create_args {
    std::string instance;
    engine::endpoint where, next;
    engine::job_spec job;
};
std::expected<create_args, wire_error> create_args_of(const protocol::request& r) {
    auto ctx = to_string(r.type);
    if (r.type == request_type::listen) {
        auto a = args_of<listen_args>(r.args, ctx);
        if (!a) return std::unexpected(a.error());
        return create_args{a->instance, a->bind, {}, a->job};
    }
    if (r.type == request_type::forward) {
        auto a = args_of<forward_args>(r.args, ctx);
        if (!a) return std::unexpected(a.error());
        return create_args{a->instance, a->bind, a->next, a->job};
    }
    auto a = args_of<connect_args>(r.args, ctx);
    if (!a) return std::unexpected(a.error());
    return create_args{a->instance, a->server, {}, a->job};
}
} // namespace

agent_service::outcome agent_service::create(const protocol::request& r) {
    bool server = r.type == request_type::listen;
    bool forward = r.type == request_type::forward; // listens like a server, then relays onward
    auto a = create_args_of(r);
    if (!a) return std::unexpected(a.error());
    const std::string& name = a->instance;
    std::string ctx = fmt::format("{} {}", to_string(r.type), name);
    if (forward && !sessions_.forward) return err(error_code::engine, "this agent cannot forward", ctx);
    {
        std::lock_guard lock(mutex_);
        if (instances_.contains(name))
            return err(error_code::instance_exists,
                       fmt::format("instance '{}' exists; release it first", name), ctx);
    }
    // The engine opens sockets only towards what the runner named here: the agent has no other
    // way to choose a peer.
    auto s = forward  ? sessions_.forward(a->job, a->where, a->next)
             : server ? sessions_.listen(a->job, a->where)
                      : sessions_.connect(a->job, a->where);
    if (!s) return engine_err(s.error(), ctx);
    auto inst = std::make_shared<instance>();
    inst->name = name;
    inst->session = std::move(*s);
    if (forward) inst->at = step::established; // relays from the start; no establish step
    json out = engine::wire::encode(no_fields{});
    if (server || forward)
        out = engine::wire::encode(listen_reply{inst->session->port(), inst->session->tls_fingerprint()});
    std::lock_guard lock(mutex_);
    if (!instances_.emplace(name, inst).second)
        return err(error_code::instance_exists, fmt::format("instance '{}' exists; release it first", name),
                   ctx);
    return out;
}

agent_service::found agent_service::find(const json& args, std::string_view what) {
    auto a = args_of<instance_args>(args, what);
    if (!a) return std::unexpected(a.error());
    return lookup(a->instance, what);
}

agent_service::found agent_service::lookup(const std::string& name, std::string_view what) {
    std::lock_guard lock(mutex_);
    auto it = instances_.find(name);
    if (it == instances_.end())
        return err(error_code::no_such_instance, fmt::format("no instance '{}'", name),
                   fmt::format("{} {}", what, name));
    return it->second;
}

agent_service::outcome agent_service::quick(const protocol::request& r) {
    // start carries an instant besides the instance.
    std::int64_t at_ns = 0;
    found inst;
    if (r.type == request_type::start) {
        auto a = args_of<start_args>(r.args, "start");
        if (!a) return std::unexpected(a.error());
        at_ns = a->at_ns;
        inst = lookup(a->instance, "start");
    } else {
        inst = find(r.args, to_string(r.type));
    }
    if (!inst) return std::unexpected(inst.error());
    instance& in = **inst;
    std::string ctx = fmt::format("{} {}", to_string(r.type), in.name);
    if (r.type == request_type::stop) {
        in.session->stop(); // the engine allows stop from any thread, at any time
        std::lock_guard lock(mutex_);
        in.stopped = true;
        return engine::wire::encode(no_fields{});
    }
    if (r.type == request_type::samples) { // while its wait runs: read-only, closed seconds only
        {
            std::lock_guard lock(mutex_);
            if (in.at < step::started)
                return err(error_code::bad_state,
                           fmt::format("instance '{}' is {}", in.name, step_name(in.at)), ctx);
        }
        return engine::wire::encode(samples_reply{in.session->live_samples()});
    }
    {
        std::lock_guard lock(mutex_);
        if (!in.busy.empty())
            return err(error_code::busy,
                       fmt::format("instance '{}' is busy: {} in progress", in.name, in.busy), ctx);
        step need = r.type == request_type::start ? step::established : step::started;
        if (r.type == request_type::start ? in.at != need : (in.at < need && !in.stopped))
            return err(error_code::bad_state,
                       fmt::format("instance '{}' is {}", in.name, in.stopped ? "stopped" : step_name(in.at)),
                       ctx);
        in.busy = to_string(r.type);
    }
    outcome o = engine::wire::encode(no_fields{});
    if (r.type == request_type::start) {
        auto started = in.session->start(at_ns);
        if (!started) o = engine_err(started.error(), ctx);
    } else {
        o = engine::wire::encode(in.session->collect());
    }
    std::lock_guard lock(mutex_);
    in.busy.clear();
    if (o && r.type == request_type::start) in.at = step::started;
    return o;
}

agent_service::outcome agent_service::release(const json& args) {
    auto inst = find(args, "release");
    if (!inst) return std::unexpected(inst.error());
    (*inst)->session->stop();
    {
        std::lock_guard lock(mutex_);
        instances_.erase((*inst)->name);
    }
    // The session closes its sockets here, as `inst` goes, unless a worker thread still holds it
    // (release during wait); then it closes when that thread lets go.
    return engine::wire::encode(no_fields{});
}

agent_service::answer agent_service::spawn_long(const protocol::request& r) {
    auto inst = find(r.args, to_string(r.type));
    if (!inst) return outcome(std::unexpected(inst.error()));
    instance& in = **inst;
    std::string ctx = fmt::format("{} {}", to_string(r.type), in.name);
    {
        std::lock_guard lock(mutex_);
        if (!in.busy.empty())
            return outcome(err(error_code::busy,
                               fmt::format("instance '{}' is busy: {} in progress", in.name, in.busy), ctx));
        bool ok = r.type == request_type::establish ? in.at == step::created : in.at >= step::started;
        if (!ok || (r.type == request_type::establish && in.stopped))
            return outcome(err(
                error_code::bad_state,
                fmt::format("instance '{}' is {}", in.name, in.stopped ? "stopped" : step_name(in.at)), ctx));
        in.busy = to_string(r.type);
        ++running_;
    }
    std::thread([self = shared_from_this(), r, inst = *inst]() mutable {
        outcome o;
        try {
            o = self->run_long(r, inst);
        } catch (const std::exception& e) {
            o = err(error_code::internal, fmt::format("internal error: {}", e.what()),
                    std::string(to_string(r.type)));
        }
        {
            std::lock_guard lock(self->mutex_);
            inst->busy.clear();
        }
        // Let go before replying: a release that follows the reply must find this thread gone,
        // so the session (and its sockets) closes before the release is answered.
        inst.reset();
        self->reply(r, std::move(o));
        std::lock_guard lock(self->mutex_);
        --self->running_;
        self->idle_.notify_all();
    }).detach();
    return answer::later();
}

agent_service::outcome agent_service::run_long(const protocol::request& r,
                                               const std::shared_ptr<instance>& inst) {
    std::string ctx = fmt::format("{} {}", to_string(r.type), inst->name);
    auto deadline = std::chrono::steady_clock::now() + r.timeout;
    if (r.type == request_type::establish) {
        auto done = inst->session->establish(deadline);
        if (!done) return engine_err(done.error(), ctx);
        std::lock_guard lock(mutex_);
        inst->at = step::established;
        return engine::wire::encode(no_fields{});
    }
    if (!inst->session->wait(deadline))
        return err(error_code::timeout, fmt::format("not finished within {} ms", r.timeout.count()), ctx);
    {
        std::lock_guard lock(mutex_);
        inst->at = step::finished;
    }
    return engine::wire::encode(inst->session->collect());
}

agent_service::outcome agent_service::setup(const protocol::request& r) {
    // No timeout given: a minute, so that a hung command cannot hold the setup forever.
    auto deadline = std::chrono::steady_clock::now() +
                    (r.timeout.count() > 0 ? r.timeout : std::chrono::milliseconds(60000));
    std::expected<setup_reply, std::string> done;
    std::string ctx;
    if (r.type == request_type::setup_apply) {
        auto a = args_of<setup_apply_args>(r.args, "setup_apply");
        if (!a) return std::unexpected(a.error());
        ctx = "setup_apply " + a->setup;
        done = setups_.apply(*a, deadline);
    } else {
        auto a = args_of<setup_restore_args>(r.args, "setup_restore");
        if (!a) return std::unexpected(a.error());
        ctx = "setup_restore " + a->setup;
        done = setups_.restore(a->setup, deadline);
    }
    if (!done) return err(error_code::setup_failed, done.error(), ctx);
    return engine::wire::encode(*done);
}

std::vector<std::string> agent_service::restore_setups() {
    std::vector<std::string> errors;
    for (const auto& rep : setups_.restore_all(std::chrono::steady_clock::now() + std::chrono::seconds(10)))
        for (const auto& e : rep.errors)
            errors.push_back(fmt::format("setup '{}': {}", rep.setup, e));
    return errors;
}

void agent_service::stop_all() {
    std::vector<std::shared_ptr<instance>> all;
    {
        std::lock_guard lock(mutex_);
        for (auto& [name, inst] : instances_)
            all.push_back(inst);
    }
    for (auto& inst : all)
        inst->session->stop();
}

bool agent_service::wait_idle(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    return idle_.wait_until(lock, deadline, [&] { return running_ == 0; });
}

void agent_service::release_all() {
    std::map<std::string, std::shared_ptr<instance>> all;
    {
        std::lock_guard lock(mutex_);
        all.swap(instances_);
    }
    all.clear(); // sessions close their sockets here, outside the lock
}

} // namespace kp::remote
