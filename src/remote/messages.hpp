#pragma once
/// The typed arguments and replies of the agent's requests (remote/protocol.hpp), each with one
/// field list (engine/wire/encode.hpp) that agent_client and agent_service share: the client encodes
/// the arguments and decodes the reply, the service the other way round. docs/agent.md lists them.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/core/job.hpp"
#include "engine/session/session.hpp"
#include "engine/stats/result.hpp"
#include "engine/wire/codec.hpp"
#include "engine/wire/encode.hpp"
#include "remote/capabilities.hpp"

namespace kp::engine {
/// {"address":"127.0.0.1","port":5201}; the port defaults to 0 (any).
template <class V> void fields(endpoint& x, V&& v) {
    v("address", x.address, wire::required);
    v("port", x.port);
}
} // namespace kp::engine

namespace kp::remote {

/// An empty argument list or reply: {}.
struct no_fields {
    friend bool operator==(const no_fields&, const no_fields&) = default;
};
template <class V> void fields(no_fields&, V&&) {}

/// hello: the runner's protocol version (the reply is the agent's capabilities), and how often
/// the runner promises to send something (remote/keepalive.hpp).
struct hello_args {
    int protocol = 0;
    std::string build_id;
    std::uint32_t keepalive_ms = 0; ///< 0: no keepalive; the agent never gives up on silence
    friend bool operator==(const hello_args&, const hello_args&) = default;
};
template <class V> void fields(hello_args& x, V&& v) {
    v("protocol", x.protocol, engine::wire::required);
    v("build_id", x.build_id);
    v("keepalive_ms", x.keepalive_ms);
}

/// listen: create the server side of `instance` and listen on `bind` (port 0: any).
struct listen_args {
    std::string instance;
    engine::endpoint bind;
    engine::job_spec job;
    friend bool operator==(const listen_args&, const listen_args&) = default;
};
template <class V> void fields(listen_args& x, V&& v) {
    v("instance", x.instance, engine::wire::required);
    v("bind", x.bind, engine::wire::required);
    v("job", x.job, engine::wire::required);
}

/// connect: create the client side of `instance` towards `server`.
struct connect_args {
    std::string instance;
    engine::endpoint server;
    engine::job_spec job;
    friend bool operator==(const connect_args&, const connect_args&) = default;
};
template <class V> void fields(connect_args& x, V&& v) {
    v("instance", x.instance, engine::wire::required);
    v("server", x.server, engine::wire::required);
    v("job", x.job, engine::wire::required);
}

/// forward: a forwarder `instance` listening on `bind` and relaying to `next`.
struct forward_args {
    std::string instance;
    engine::endpoint bind;
    engine::endpoint next;
    engine::job_spec job;
    friend bool operator==(const forward_args&, const forward_args&) = default;
};
template <class V> void fields(forward_args& x, V&& v) {
    v("instance", x.instance, engine::wire::required);
    v("bind", x.bind, engine::wire::required);
    v("next", x.next, engine::wire::required);
    v("job", x.job, engine::wire::required);
}

/// establish, wait, stop, collect, release: the instance they act on.
struct instance_args {
    std::string instance;
    friend bool operator==(const instance_args&, const instance_args&) = default;
};
template <class V> void fields(instance_args& x, V&& v) {
    v("instance", x.instance, engine::wire::required);
}

/// start: start `instance` at `at_ns`, the agent host's CLOCK_REALTIME in ns (0: now). The
/// reply comes once the workers are ready, before that instant (engine::session::start).
struct start_args {
    std::string instance;
    std::int64_t at_ns = 0;
    friend bool operator==(const start_args&, const start_args&) = default;
};
template <class V> void fields(start_args& x, V&& v) {
    v("instance", x.instance, engine::wire::required);
    v("at_ns", x.at_ns);
}

/// The reply to clock: the agent host's CLOCK_REALTIME in ns, read just before replying.
struct clock_reply {
    std::int64_t realtime_ns = 0;
    friend bool operator==(const clock_reply&, const clock_reply&) = default;
};
template <class V> void fields(clock_reply& x, V&& v) {
    v("realtime_ns", x.realtime_ns, engine::wire::required);
}

/// The reply to samples: the per-second samples of a running instance closed so far.
struct samples_reply {
    std::vector<engine::sample> samples;
    friend bool operator==(const samples_reply&, const samples_reply&) = default;
};
template <class V> void fields(samples_reply& x, V&& v) {
    v("samples", x.samples, engine::wire::required);
}

/// The reply to listen and forward: where clients connect, which certificate to pin.
struct listen_reply {
    std::uint16_t port = 0;
    std::string tls_fingerprint; ///< empty without TLS
    friend bool operator==(const listen_reply&, const listen_reply&) = default;
};
template <class V> void fields(listen_reply& x, V&& v) {
    v("port", x.port, engine::wire::required);
    v("tls_fingerprint", x.tls_fingerprint);
}

/// One `name: value` of a setup: a sysctl (net.core.busy_poll: 50) or an IRQ affinity
/// (eth0: "0-1").
struct setup_entry {
    std::string name, value;
    friend bool operator==(const setup_entry&, const setup_entry&) = default;
};
template <class V> void fields(setup_entry& x, V&& v) {
    v("name", x.name, engine::wire::required);
    v("value", x.value, engine::wire::required);
}

/// setup_apply: apply setup `setup` on this host, in this order: sysctls, IRQ affinities, `run`
/// commands; `undo` runs when it is restored (remote/setup.hpp).
struct setup_apply_args {
    std::string setup;
    std::vector<setup_entry> sysctl, irq_affinity;
    std::vector<std::string> run, undo;
    friend bool operator==(const setup_apply_args&, const setup_apply_args&) = default;
};
template <class V> void fields(setup_apply_args& x, V&& v) {
    v("setup", x.setup, engine::wire::required);
    v("sysctl", x.sysctl);
    v("irq_affinity", x.irq_affinity);
    v("run", x.run);
    v("undo", x.undo);
}

/// setup_restore: put setup `setup` back.
struct setup_restore_args {
    std::string setup;
    friend bool operator==(const setup_restore_args&, const setup_restore_args&) = default;
};
template <class V> void fields(setup_restore_args& x, V&& v) {
    v("setup", x.setup, engine::wire::required);
}

/// A value a setup changed: a sysctl (`irq` 0) or one IRQ's affinity of `interface`.
struct setup_change {
    std::string name; ///< the sysctl, or the interface
    std::uint32_t irq = 0;
    std::string before, after; ///< as read back from /proc
    friend bool operator==(const setup_change&, const setup_change&) = default;
};
template <class V> void fields(setup_change& x, V&& v) {
    v("name", x.name, engine::wire::required);
    v("irq", x.irq);
    v("before", x.before);
    v("after", x.after);
}

/// A command a setup ran through /bin/sh -c, its exit code (128+N: killed by signal N; -1:
/// could not start) and the first bytes of its output.
struct setup_command {
    std::string command;
    int exit_code = 0;
    std::string stdout_text, stderr_text;
    friend bool operator==(const setup_command&, const setup_command&) = default;
};
template <class V> void fields(setup_command& x, V&& v) {
    v("command", x.command, engine::wire::required);
    v("exit_code", x.exit_code, engine::wire::required);
    v("stdout", x.stdout_text);
    v("stderr", x.stderr_text);
}

/// The reply to setup_apply (what was changed) and to setup_restore (what was written back and
/// which undo commands ran; `errors` lists what could not be put back).
struct setup_reply {
    std::string setup;
    std::vector<setup_change> sysctl, irqs;
    std::vector<setup_command> commands;
    std::vector<std::string> errors;
    friend bool operator==(const setup_reply&, const setup_reply&) = default;
};
template <class V> void fields(setup_reply& x, V&& v) {
    v("setup", x.setup, engine::wire::required);
    v("sysctl", x.sysctl);
    v("irqs", x.irqs);
    v("commands", x.commands);
    v("errors", x.errors);
}

} // namespace kp::remote
