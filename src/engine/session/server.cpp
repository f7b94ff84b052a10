// The server side of a session: listen() binds and starts admitting data connections at once
// (the acceptor), so a client may establish before or while the server's establish() runs.
#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/session/acceptor.hpp"
#include "engine/session/session_core.hpp"
#include "engine/tls/tls.hpp"
#include "engine/traffic/traffic.hpp"

namespace kp::engine {

namespace {

class server_session final : public session_core {
  public:
    server_session(const job_spec& job, unique_fd listener, std::uint16_t port, const listen_options& options)
        : session_core(job, true), listener_(std::move(listener)), port_(port), options_(options) {}
    ~server_session() override {
        session_core::stop();
        if (acceptor_) acceptor_->stop();
    }

    result<void> init() {
        if (job_.tls.mode != tls_mode::none) {
            auto id = tls::make_identity();
            if (!id) return fail(id.error().context("TLS identity"));
            identity_ = std::move(*id);
            auto ctx = tls::make_server_context(identity_, job_.tls);
            if (!ctx) return fail(ctx.error());
            tls_ctx_ = std::move(*ctx);
        }
        acceptor_config cfg;
        cfg.token = job_.token;
        cfg.flows = job_.flows;
        cfg.per_flow = conns_per_flow(job_);
        cfg.udp = info(job_.kind).udp();
        cfg.options = job_.sockopts;
        cfg.hello_timeout_ns = options_.hello_timeout.count();
        acceptor_ = std::make_unique<acceptor>(listener_.get(), cfg);
        return acceptor_->start();
    }

    /// Also ends an establish() that waits for connections (the client failed: none will come).
    void stop() override {
        if (acceptor_) acceptor_->abort("stopped while establishing"); // no effect once established
        session_core::stop();
    }

    [[nodiscard]] std::uint16_t port() const override { return port_; }
    [[nodiscard]] std::string tls_fingerprint() const override { return identity_.fingerprint; }

    result<void> establish(std::chrono::steady_clock::time_point deadline) override {
        if (established_) return {};
        auto kept = acceptor_->wait_all(to_mono_ns(deadline));
        if (!kept) return fail(kept.error()); // the agent names the step ("establish rr#0/server")
        const bool crr = info(job_.kind).crr();
        // tcp_crr: from here on the workers accept; stray connections wait in the backlog.
        if (crr) acceptor_->stop();
        for (accepted_conn& a : *kept) {
            auto c = std::make_unique<conn>();
            c->flow = a.flow;
            c->slot = a.slot;
            c->role = role_for(job_, true, a.slot);
            c->rx_cpu_start = a.rx_cpu;
            c->peer_rx_cpu = a.peer_rx_cpu;
            c->local_port = local_port(a.fd.get());
            c->remote_port = remote_port(a.fd.get());
            if (tls_ctx_) {
                auto io = tls::handshake(a.fd.get(), *tls_ctx_, deadline, c->tls);
                if (!io) return fail(io.error().context(fmt::format("flow {}", a.flow)));
                a.fd.release(); // now owned by the TLS stream
                c->io = std::move(*io);
            } else {
                if (auto r = set_nonblocking(a.fd.get(), true); !r) return r;
                c->io = std::make_unique<plain_io>(a.fd.release());
            }
            c->udp = std::move(a.udp);
            if (crr) {
                probes_.push_back(std::move(c->io));
                probe_rx_.push_back(a.rx_cpu);
                probe_peer_rx_.push_back(a.peer_rx_cpu);
                continue;
            }
            conns_.push_back(std::move(c));
        }
        established_ = true;
        return {};
    }

  protected:
    [[nodiscard]] std::uint64_t rejected_hellos() const override {
        return acceptor_ ? acceptor_->rejected() : 0;
    }
    void before_run() override {
        if (info(job_.kind).crr()) {
            ctx_.listen_fd = listener_.get();
            for (auto& p : probes_)
                probe_fds_.push_back(p->fd());
            ctx_.probes = probe_fds_;
            ctx_.hello_timeout_ns = options_.hello_timeout.count();
        }
        ctx_.tls = tls_ctx_.get();
    }

  private:
    unique_fd listener_;
    std::uint16_t port_;
    listen_options options_;
    std::unique_ptr<acceptor> acceptor_;
    std::vector<int> probe_fds_; ///< tcp_crr: the probes' fds, which the workers watch
    tls::identity identity_;
    std::shared_ptr<const tls::context> tls_ctx_;
};

} // namespace

result<std::unique_ptr<session>> listen(const job_spec& job, const endpoint& bind_address) {
    return listen_with(job, bind_address, {});
}

result<std::unique_ptr<session>> listen_with(const job_spec& job, const endpoint& bind_address,
                                             const listen_options& options) {
    if (auto r = validate_job(job); !r) return fail(r.error());
    auto addr = resolve(bind_address.address, bind_address.port);
    // No "listen" context: the caller names the step (the agent: "listen rr#0/server").
    if (!addr) return fail(addr.error());
    auto fd = listen_tcp(*addr, 4096);
    if (!fd) return fail(fd.error());
    // Buffer sizes set on the listener are inherited by accepted connections, before the
    // handshake fixes the window scale.
    if (auto r = apply_udp_options(fd->get(), job.sockopts); !r) return fail(r.error());
    std::uint16_t port = local_port(fd->get());
    auto s = std::make_unique<server_session>(job, std::move(*fd), port, options);
    if (auto r = s->init(); !r) return fail(r.error());
    return std::unique_ptr<session>(std::move(s));
}

} // namespace kp::engine
