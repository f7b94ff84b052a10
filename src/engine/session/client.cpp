// The client side of a session: establish() opens the data connections, says hello with the
// token, learns both Rx CPUs, and (distinct_rx) over-opens and keeps a matching.
#include <cerrno>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/core/fd_limit.hpp"
#include "engine/core/hello.hpp"
#include "engine/session/session_core.hpp"
#include "engine/tls/tls.hpp"
#include "engine/traffic/traffic.hpp"
#include "engine/worker/placement.hpp"

namespace kp::engine {

namespace {

// distinct_rx opens at most this many candidates per wanted connection.
constexpr std::size_t over_open_factor = 4;

struct candidate {
    unique_fd fd, udp;
    int local_rx = -1, remote_rx = -1;
};

class client_session final : public session_core {
  public:
    client_session(const job_spec& job, sock_addr server) : session_core(job, false), server_(server) {}

    result<void> init() {
        if (job_.tls.mode != tls_mode::none) {
            auto ctx = tls::make_client_context(job_.tls);
            if (!ctx) return fail(ctx.error());
            tls_ctx_ = std::move(*ctx);
        }
        ctx_.peer = server_;
        ctx_.tls = tls_ctx_.get();
        return {};
    }

    [[nodiscard]] std::uint16_t port() const override {
        if (!conns_.empty() && conns_[0]->io) return conns_[0]->local_port;
        if (!probes_.empty()) return local_port(probes_[0]->fd());
        return 0;
    }
    [[nodiscard]] std::string tls_fingerprint() const override { return {}; }

    result<void> establish(std::chrono::steady_clock::time_point deadline) override {
        if (established_) return {};
        const std::int64_t dl = to_mono_ns(deadline);
        const bool crr = info(job_.kind).crr();
        const std::uint8_t per = conns_per_flow(job_);
        const std::size_t wanted = std::size_t{job_.flows} * per;
        std::vector<candidate> cands;
        std::vector<std::size_t> chosen;
        auto give_up = [&](error e) -> result<void> {
            // One abort tells the server to stop waiting; the rest just close.
            for (std::size_t i = 0; i < cands.size(); ++i)
                send_verdict(cands[i], i == 0 ? verdict::abort : verdict::drop, 0, 0, dl);
            // Every flow takes a TCP connection (and, UDP kinds, a UDP socket) on this side.
            if (out_of_descriptors(e.sys_errno))
                e = with_fd_limit(std::move(e), job_.flows, wanted * (info(job_.kind).udp() ? 2 : 1));
            return fail(std::move(e));
        };
        if (!job_.distinct_rx) {
            for (std::size_t i = 0; i < wanted; ++i) {
                auto c = open_candidate(static_cast<std::uint32_t>(i), dl);
                if (!c) return give_up(c.error().context(fmt::format("flow {}", i / per)));
                cands.push_back(std::move(*c));
                chosen.push_back(i);
            }
        } else {
            std::vector<std::pair<int, int>> pairs;
            while (cands.size() < over_open_factor * wanted) {
                for (std::size_t k = 0; k < wanted; ++k) {
                    auto c = open_candidate(static_cast<std::uint32_t>(cands.size()), dl);
                    if (!c) return give_up(c.error().context("distinct_rx candidate"));
                    pairs.emplace_back(c->local_rx, c->remote_rx);
                    cands.push_back(std::move(*c));
                }
                chosen = match_distinct_rx(pairs, wanted);
                if (chosen.size() == wanted) break;
            }
            if (chosen.size() < wanted) {
                auto diag = diagnose_distinct_rx(pairs, wanted);
                placement_note_ = diag.message();
                return give_up(make_error(diag.message()));
            }
        }
        // Verdicts: the k-th chosen candidate becomes flow k / per, slot k % per.
        std::vector<bool> keep(cands.size(), false);
        for (std::size_t k = 0; k < chosen.size(); ++k) {
            keep[chosen[k]] = true;
            auto flow = static_cast<std::uint32_t>(k / per);
            auto slot = static_cast<std::uint8_t>(k % per);
            if (auto r = send_verdict(cands[chosen[k]], verdict::keep, flow, slot, dl); !r)
                return give_up(r.error().context(fmt::format("flow {}", flow)));
        }
        for (std::size_t i = 0; i < cands.size(); ++i)
            if (!keep[i]) cands[i].fd.reset();
        // TLS handshakes run in (flow, slot) order, the order the server takes them in.
        for (std::size_t k = 0; k < chosen.size(); ++k) {
            candidate& cd = cands[chosen[k]];
            auto c = std::make_unique<conn>();
            c->flow = static_cast<std::uint32_t>(k / per);
            c->slot = static_cast<std::uint8_t>(k % per);
            c->role = role_for(job_, false, c->slot);
            c->rx_cpu_start = cd.local_rx;
            c->peer_rx_cpu = cd.remote_rx;
            c->local_port = local_port(cd.fd.get());
            c->remote_port = remote_port(cd.fd.get());
            if (tls_ctx_) {
                auto io = tls::handshake(cd.fd.get(), *tls_ctx_, deadline, c->tls);
                if (!io) return fail(io.error().context(fmt::format("flow {}", c->flow)));
                cd.fd.release();
                c->io = std::move(*io);
            } else {
                if (auto r = set_nonblocking(cd.fd.get(), true); !r) return r;
                c->io = std::make_unique<plain_io>(cd.fd.release());
            }
            c->udp = std::move(cd.udp);
            if (crr) {
                probes_.push_back(std::move(c->io));
                c->probe_fd = probes_.back()->fd();
                probe_rx_.push_back(cd.local_rx);
                probe_peer_rx_.push_back(cd.remote_rx);
                c->rx_cpu_start = cd.local_rx;
            }
            conns_.push_back(std::move(c));
        }
        established_ = true;
        return {};
    }

  private:
    result<candidate> open_candidate(std::uint32_t id, std::int64_t deadline) {
        candidate c;
        auto fd = connect_tcp(server_, job_.sockopts, deadline);
        if (!fd) {
            ++setup_errors_.connect;
            // Refused or reset: the server may have given up (its error then names the cause).
            const int e = fd.error().sys_errno;
            if (e == ECONNREFUSED || e == ECONNRESET) return fail(as_consequence(fd.error()));
            return fail(fd.error());
        }
        c.fd = std::move(*fd);
        const bool udp = info(job_.kind).udp();
        hello h{hello_purpose::data, id, 0, job_.token};
        if (udp) {
            auto local = local_address(c.fd.get());
            if (!local) return fail(local.error());
            local->set_port(0);
            auto u = bind_udp(*local, job_.sockopts);
            if (!u) return fail(u.error().context("UDP socket"));
            c.udp = std::move(*u);
            h.udp_port = local_port(c.udp.get());
        }
        auto bytes = encode_hello(h);
        if (auto r = write_all(c.fd.get(), bytes, deadline); !r) {
            ++setup_errors_.write;
            return fail(r.error().context("sending the hello"));
        }
        std::byte buf[reply_size];
        if (auto r = read_all(c.fd.get(), buf, deadline); !r) {
            ++setup_errors_.read;
            // The server closed it: a wrong token, not a kperf-plan server, or it gave up (then
            // its error names the cause).
            return fail(as_consequence(r.error().context(
                "the server refused the hello (wrong token, or not a kperf-plan server?)")));
        }
        hello_reply reply;
        if (!parse_reply(std::span<const std::byte, reply_size>(buf, reply_size), reply))
            return fail("the server's hello reply is malformed");
        c.remote_rx = reply.rx_cpu;
        c.local_rx = incoming_cpu(c.fd.get());
        if (udp) {
            sock_addr to = server_;
            if (auto peer = peer_address(c.fd.get())) to = *peer;
            to.set_port(reply.udp_port);
            if (::connect(c.udp.get(), to.get(), to.len) != 0) return fail(errno_error("connect UDP"));
        }
        return c;
    }

    result<void> send_verdict(candidate& c, verdict v, std::uint32_t flow, std::uint8_t slot,
                              std::int64_t deadline) {
        if (!c.fd) return {};
        std::byte buf[decision_size];
        encode_decision({v, slot, flow, c.local_rx}, std::span<std::byte, decision_size>(buf, decision_size));
        return write_all(c.fd.get(), buf, deadline);
    }

    sock_addr server_;
    std::shared_ptr<const tls::context> tls_ctx_;
};

} // namespace

result<std::unique_ptr<session>> connect(const job_spec& job, const endpoint& server) {
    if (auto r = validate_job(job); !r) return fail(r.error());
    auto addr = resolve(server.address, server.port);
    // No "connect" context: the caller names the step (the agent: "connect rr#0/client").
    if (!addr) return fail(addr.error());
    auto s = std::make_unique<client_session>(job, *addr);
    if (auto r = s->init(); !r) return fail(r.error());
    return std::unique_ptr<session>(std::move(s));
}

} // namespace kp::engine
