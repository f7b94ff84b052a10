// tcp_crr: every transaction is connect, hello + request, response, close. The client times
// each step: connect (connect() to writable), the whole transaction (`latency`, from the
// scheduled start in open loop) and close (`close_latency`: the response in to the socket
// gone, which with close: server includes waiting for the server's FIN). How a connection
// ends is the job's `close` (engine/core/job.hpp): server (the default, as netperf: the
// server's FIN once its response is written), reset (SO_LINGER 0, as neper) or client (our FIN,
// not waited for).
// Only `server` waits for the peer, and then inside close_latency: nothing of a cycle falls
// outside the figures but the loop's own work. The server accepts throughout the run from a
// listener every worker shares (EPOLLEXCLUSIVE) and checks each connection's hello, so stray
// connections are counted as rejected and never measured; one that sends no hello gives its slot
// up to the next connection when none is free, or at the hello deadline (crr.hpp, crr_server).
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/core/clock.hpp"
#include "engine/core/hello.hpp"
#include "engine/stats/tcp_stats.hpp"
#include "engine/traffic/crr.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine {

namespace {

// Over TLS, tcp_crr always disables Nagle: the client's plain-text hello is followed at once
// by its ClientHello, which Nagle would hold until the hello is acknowledged, and the server
// delays that ACK while it waits for the ClientHello: ~40 ms per connection (TLS 1.3 measured
// 22 connections/s instead of thousands). The same holds for the Finished message and the
// request behind it. What crr measures is the transaction, not that stall.
void set_nodelay(int fd) noexcept {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

constexpr std::int64_t retry_after_error_ns = 1'000'000; // back off 1 ms after a failed connect

/// One read or write on a tcp_crr connection: through its TLS stream when it has one.
io_result crr_read(int fd, stream_io* io, std::span<std::byte> into) noexcept {
    if (io != nullptr) return io->read(into);
    ssize_t n = ::recv(fd, into.data(), into.size(), MSG_DONTWAIT);
    if (n > 0) return {io_status::ok, static_cast<std::size_t>(n)};
    if (n == 0) return {io_status::closed, 0};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {io_status::retry, 0};
    return {io_status::error, 0};
}

io_result crr_write(int fd, stream_io* io, std::span<const std::byte> from) noexcept {
    if (io != nullptr) return io->write(from);
    ssize_t n = ::send(fd, from.data(), from.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return {io_status::ok, static_cast<std::size_t>(n)};
    if (errno == EAGAIN || errno == EWOULDBLOCK) return {io_status::retry, 0, true};
    return {io_status::error, 0};
}

/// Makes the next close of `fd` an RST (SO_LINGER 0): the connection leaves no TIME_WAIT.
void set_reset_on_close(int fd) noexcept {
    linger l{.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void close_transaction(conn& c, crr_client_state& s) noexcept {
    if (s.fd >= 0) c.c.retrans += total_retrans(s.fd);
    s.hs.reset(); // the fd stays ours until a handshake finishes
    if (s.io)
        s.io.reset(); // the TLS stream owns the fd and closes it (leaving the epoll set)
    else if (s.fd >= 0)
        ::close(s.fd);
    s.fd = -1;
    s.stage = crr_stage::idle;
    c.interest = 0;
}

void start_transaction(worker& w, conn& c, crr_client_state& s, std::int64_t now) noexcept {
    if (w.ended()) return;
    const run_context& ctx = w.context();
    const bool open = c.mean_gap_ns > 0;
    s.t_sched = open ? c.next_send : now;
    if (open) {
        w.paced_send(c.next_send, now, s.freed);
        c.next_send += w.next_gap(c.mean_gap_ns);
    }
    int fd = ::socket(ctx.peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ++c.c.err_connect;
        c.next_send = now + retry_after_error_ns;
        return;
    }
    const auto& o = w.job().sockopts;
    if (o.nodelay || o.sndbuf > 0 || o.rcvbuf > 0 || !o.congestion.empty() || o.max_pacing_rate > 0) {
        if (!apply_tcp_options(fd, o)) ++c.c.err_connect;
    }
    if (ctx.tls != nullptr && !o.nodelay) set_nodelay(fd);
    s.t_connect = mono_ns();
    if (::connect(fd, ctx.peer.get(), ctx.peer.len) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        ++c.c.err_connect;
        c.next_send = now + retry_after_error_ns;
        return;
    }
    s.fd = fd;
    s.stage = crr_stage::connecting;
    s.sent = s.received = 0;
    // Plain TCP waits edge-triggered for both directions from the start: no epoll_ctl per step.
    // TLS switches between them as its handshake needs (level-triggered).
    c.interest = ctx.tls == nullptr ? (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) : EPOLLOUT;
    if (ctx.tls == nullptr) {
        // Over loopback and veth the handshake is done when connect() returns: send the hello
        // and request now, and wait for writability only if the connection is not up yet (EAGAIN).
        const std::int64_t up = mono_ns();
        ssize_t n = ::send(fd, s.request.data(), s.request.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            ::close(fd);
            s.fd = -1;
            s.stage = crr_stage::idle;
            ++c.c.err_connect; // e.g. ECONNREFUSED
            c.next_send = now + retry_after_error_ns;
            return;
        }
        if (n >= 0) {
            if (c.hist != nullptr && w.in_window()) w.connect_latency.record(std::uint64_t(up - s.t_connect));
            s.stage = crr_stage::exchanging;
            s.sent = static_cast<std::size_t>(n);
            c.c.bytes_sent += s.sent;
            w.moved(s.sent);
            if (s.sent == s.request.size()) c.interest = EPOLLIN | EPOLLRDHUP | EPOLLET;
        }
    }
    epoll_event e{c.interest, {.u64 = worker::tag_of(worker::tag::conn, c.index)}};
    if (epoll_ctl(w.epoll_fd(), EPOLL_CTL_ADD, fd, &e) != 0) {
        ++c.c.err_connect;
        close_transaction(c, s);
    }
}

/// The connection is done: close it (an RST if so set), time the close step from the response
/// in and, closed loop, start the next one.
void finish_connection(worker& w, conn& c, crr_client_state& s) noexcept {
    close_transaction(c, s);
    const std::int64_t now = mono_ns();
    if (c.hist != nullptr && w.in_window()) w.close_latency.record(std::uint64_t(now - s.t_close));
    s.freed = now;
    if (c.mean_gap_ns <= 0) start_transaction(w, c, s, now);
}

/// Appends slot `k`, just accepted, to the pending list.
void pending_push(crr_server& s, std::uint32_t k) noexcept {
    crr_server_slot& slot = s.slots[k];
    slot.older = s.newest;
    slot.newer = no_slot;
    if (s.newest != no_slot)
        s.slots[s.newest].newer = k;
    else
        s.oldest = k;
    s.newest = k;
}

/// Takes slot `k` off the pending list: its hello is complete, or it is closed.
void pending_remove(crr_server& s, std::uint32_t k) noexcept {
    crr_server_slot& slot = s.slots[k];
    (slot.older != no_slot ? s.slots[slot.older].newer : s.oldest) = slot.newer;
    (slot.newer != no_slot ? s.slots[slot.newer].older : s.newest) = slot.older;
    slot.older = slot.newer = no_slot;
}

/// Refuses a connection whose hello is bad, late or never came: counted as a rejected hello,
/// as the acceptor counts them.
void reject(worker& w, crr_server& s, std::uint32_t k) noexcept {
    ++w.extra.err_rejected;
    crr_kind::server_close(w, s, k);
}

} // namespace

namespace crr_kind {

void prepare(worker& w, conn& c) {
    const job_spec& job = w.job();
    auto& s = c.state.emplace<crr_client_state>();
    s.request = encode_hello({hello_purpose::crr, c.flow, 0, job.token});
    auto req = w.payload().at(0, job.request_size);
    s.request.insert(s.request.end(), req.begin(), req.end());
}

void start(worker& w, conn& c, std::int64_t now) noexcept {
    if (c.mean_gap_ns <= 0) start_transaction(w, c, state_of<crr_client_state>(c), now);
}

std::int64_t timer(worker& w, conn& c, std::int64_t now) noexcept {
    auto& s = state_of<crr_client_state>(c);
    if (s.stage != crr_stage::idle) return INT64_MAX;
    if (now < c.next_send) return c.next_send;
    start_transaction(w, c, s, now);
    return INT64_MAX;
}

void window_end(worker&, conn& c) noexcept {
    auto& s = state_of<crr_client_state>(c);
    if (s.fd >= 0) close_transaction(c, s);
    // Our FIN on the flow's probe tells the server this flow is finished: once every flow's
    // has come and no transaction is open, it stops serving, without a quiet period.
    if (c.probe_fd >= 0) ::shutdown(c.probe_fd, SHUT_WR);
    c.done = true;
}

void linger(worker&, conn&, std::uint32_t, bool) noexcept {} // nothing lasts past a transaction

void event(worker& w, conn& c, std::uint32_t events, bool, std::int64_t now) noexcept {
    auto& s = state_of<crr_client_state>(c);
    const int fd = s.fd;
    if (fd < 0) return;
    const job_spec& job = w.job();
    const tls::context* tls_ctx = w.context().tls;
    const auto scratch = w.scratch();
    const bool edge = tls_ctx == nullptr; // plain TCP: edge-triggered on both directions
    auto set = [&](std::uint32_t ev) {
        if (edge || c.interest == ev) return;
        epoll_event e{ev, {.u64 = worker::tag_of(worker::tag::conn, c.index)}};
        if (epoll_ctl(w.epoll_fd(), EPOLL_CTL_MOD, fd, &e) == 0) c.interest = ev;
    };
    auto broken = [&](std::uint64_t counters::*err) {
        ++(c.c.*err);
        close_transaction(c, s);
        c.next_send = now + retry_after_error_ns;
    };
    const std::size_t hello_len = hello_fixed_size + job.token.size();
    if (s.stage == crr_stage::connecting) {
        if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            return broken(&counters::err_connect);
        }
        if ((events & EPOLLOUT) == 0) return;
        if (c.hist != nullptr && w.in_window()) w.connect_latency.record(std::uint64_t(now - s.t_connect));
        s.stage = crr_stage::exchanging;
        if (tls_ctx != nullptr) {
            // The hello goes in plain text, so the server can refuse strangers before any TLS work.
            ssize_t n = ::send(fd, s.request.data(), hello_len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n != static_cast<ssize_t>(hello_len)) return broken(&counters::err_write);
            s.sent = hello_len;
            c.c.bytes_sent += hello_len;
            w.moved(hello_len);
            auto hs = tls::start(fd, *tls_ctx);
            if (!hs) return broken(&counters::err_connect);
            s.hs = std::move(*hs);
            s.t_handshake = now;
            s.stage = crr_stage::handshaking;
        }
    }
    if (s.stage == crr_stage::handshaking) {
        auto r = s.hs->step();
        if (r.status == io_status::retry) return set(r.want_write ? EPOLLOUT : EPOLLIN);
        if (r.status != io_status::ok) return broken(&counters::err_connect);
        auto io = s.hs->finish(c.tls);
        s.hs.reset();
        if (!io) return broken(&counters::err_connect);
        s.io = std::move(*io);
        now = mono_ns();
        if (c.hist != nullptr && w.in_window())
            w.handshake_latency.record(std::uint64_t(now - s.t_handshake));
        s.stage = crr_stage::exchanging;
    }
    if (s.stage == crr_stage::exchanging) {
        while (s.sent < s.request.size()) {
            auto r = crr_write(fd, s.io.get(), std::span(s.request).subspan(s.sent));
            if (r.status == io_status::retry) break;
            if (r.status != io_status::ok) return broken(&counters::err_write);
            s.sent += r.bytes;
            c.c.bytes_sent += r.bytes;
            w.moved(r.bytes);
        }
        set(s.sent < s.request.size() ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
        // Edge-triggered, the response cannot be in yet unless this event says so: its arrival
        // brings another event, so the read that would only see EAGAIN is saved.
        if (edge && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
        const std::uint64_t resp = job.response_size;
        while (s.received < resp) {
            auto want = static_cast<std::size_t>(std::min<std::uint64_t>(scratch.size(), resp - s.received));
            auto r = crr_read(fd, s.io.get(), scratch.first(want));
            if (r.status == io_status::retry) {
                if (r.want_write) set(EPOLLIN | EPOLLOUT);
                return;
            }
            if (r.status != io_status::ok) return broken(&counters::err_read);
            if (job.verify && !w.payload().check(s.received, scratch.first(r.bytes))) ++c.c.err_verify;
            s.received += r.bytes;
            c.c.bytes_received += r.bytes;
            w.moved(r.bytes);
        }
        now = mono_ns();
        w.record(c, now - s.t_sched);
        // One transaction per connection, counted at the same instant: a connection whose close
        // falls after the window end would otherwise count as a transaction only.
        ++c.c.transactions;
        ++c.c.connections;
        w.transacted(1);
        s.t_close = now;
        s.stage = crr_stage::closing;
        if (job.close != crr_close::server) { // we end it, and need not wait for the server
            if (job.close == crr_close::reset) set_reset_on_close(fd);
            return finish_connection(w, c, s);
        }
        set(EPOLLIN); // close: server: its FIN often comes with the response, so read on
    }
    if (s.stage == crr_stage::closing) {
        // Plain TCP: the response is all in, so a FIN that came with it (EPOLLRDHUP) needs no read.
        if (edge && (events & EPOLLRDHUP) != 0) return finish_connection(w, c, s);
        for (;;) {
            auto r = crr_read(fd, s.io.get(), scratch);
            if (r.status == io_status::ok) continue;
            if (r.status == io_status::retry) return;
            // A plain socket reports the server's FIN as closed; TLS may report a FIN without
            // close_notify as an error, which is the same end here.
            if (r.status == io_status::error && !s.io) return broken(&counters::err_read);
            break;
        }
        finish_connection(w, c, s);
    }
}

void server_prepare(worker& w, crr_server& s) {
    const std::uint32_t flows = w.job().flows;
    std::size_t n = flows + 16; // headroom: a stray holds a slot until its hello is refused
    s.slots.resize(n);
    s.free.reserve(n);
    for (std::size_t i = n; i-- > 0;)
        s.free.push_back(static_cast<std::uint32_t>(i));
    s.live.assign(flows, counters{});
    s.begin.assign(flows, counters{});
    w.crr_flows.assign(flows, counters{});
    w.crr_tls.assign(flows, tls_report{});
}

void server_window_begin(crr_server& s) noexcept {
    std::copy(s.live.begin(), s.live.end(), s.begin.begin());
}

void server_window_end(worker& w, crr_server& s) noexcept {
    for (std::size_t f = 0; f < s.live.size(); ++f)
        w.crr_flows[f] = window_delta(s.begin[f], s.live[f]);
}

std::int64_t server_expire(worker& w, crr_server& s, std::int64_t now) noexcept {
    const std::int64_t limit = w.context().hello_timeout_ns;
    while (s.oldest != no_slot) {
        const std::int64_t due = s.slots[s.oldest].accepted_ns + limit;
        if (now < due) return due;
        reject(w, s, s.oldest);
    }
    return INT64_MAX;
}

void server_accept(worker& w, crr_server& s, std::int64_t now) noexcept {
    const run_context& ctx = w.context();
    server_expire(w, s, now);
    for (std::size_t i = 0; i < 32; ++i) {
        // The event says one is waiting. Beyond that, no more can be than the flows without a
        // connection here (each flow has one at a time), but a stray: the listener is
        // level-triggered and reports those again. So skip the accept that would see EAGAIN.
        if (i > 0 && i + s.identified >= s.live.size()) return;
        int fd = ::accept4(ctx.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++w.extra.err_connect;
            return;
        }
        // No free slot: the oldest connection still without a hello gives up its slot. There is
        // one unless more than 16 of the flows' connections are open at once (each flow has one,
        // but a connection the server still drains may overlap the flow's next). Its hello may
        // have come since (its event not handled yet), so read it first: a real one is then
        // identified and leaves the pending list, and the next oldest is tried.
        while (s.free.empty() && s.oldest != no_slot) {
            const std::uint32_t k = s.oldest;
            server_event(w, s, k);
            if (s.oldest == k) reject(w, s, k);
        }
        if (s.free.empty()) {
            ::close(fd);
            ++w.extra.err_connect;
            continue;
        }
        if (ctx.job->sockopts.nodelay || ctx.tls != nullptr) set_nodelay(fd);
        std::uint32_t k = s.free.back();
        s.free.pop_back();
        crr_server_slot& slot = s.slots[k];
        slot.fd = fd;
        slot.have = 0;
        slot.got = 0;
        slot.owed = 0;
        slot.writing = false;
        slot.stage = crr_server_stage::hello;
        slot.accepted_ns = now;
        slot.watched = false;
        slot.interest = EPOLLIN;
        pending_push(s, k);
        // A real client's hello and request come with its connect: read them now, so the
        // connection is identified before any stray could take its slot. Most are answered and
        // closed right here, which saves the epoll_ctl and the epoll round trip a connection
        // would otherwise cost (netperf's blocking server makes neither). One that must wait
        // joins the epoll set (level-triggered, so nothing that came meanwhile is missed). A
        // stray that sent nothing costs one recv.
        server_event(w, s, k);
        if (slot.fd < 0 || s.slots[k].watched) continue;
        epoll_event e{slot.interest, {.u64 = worker::tag_of(worker::tag::crr_slot, k)}};
        if (epoll_ctl(w.epoll_fd(), EPOLL_CTL_ADD, slot.fd, &e) != 0) {
            ++w.extra.err_connect;
            server_close(w, s, k);
            continue;
        }
        slot.watched = true;
    }
}

void server_close(worker&, crr_server& s, std::uint32_t k) noexcept {
    crr_server_slot& slot = s.slots[k];
    if (slot.fd < 0) return;
    if (slot.stage == crr_server_stage::hello) {
        pending_remove(s, k);
    } else {
        --s.identified;
        s.live[slot.flow].retrans += total_retrans(slot.fd); // its SYN-ACK's retransmits too
    }
    slot.hs.reset();
    if (slot.io)
        slot.io.reset(); // owns and closes the fd
    else
        ::close(slot.fd);
    slot.fd = -1;
    s.free.push_back(k);
}

void server_event(worker& w, crr_server& s, std::uint32_t k) noexcept {
    crr_server_slot& slot = s.slots[k];
    if (slot.fd < 0) return;
    const job_spec& job = w.job();
    const tls::context* tls_ctx = w.context().tls;
    const auto scratch = w.scratch();
    const std::size_t hello_len = hello_fixed_size + job.token.size();
    auto want = [&](std::uint32_t ev) {
        slot.interest = ev;
        if (!slot.watched) return; // server_accept adds it with this interest
        epoll_event e{ev, {.u64 = worker::tag_of(worker::tag::crr_slot, k)}};
        epoll_ctl(w.epoll_fd(), EPOLL_CTL_MOD, slot.fd, &e);
    };
    std::size_t early = 0; // plain TCP: request bytes that came in one read with the hello, in scratch
    if (slot.stage == crr_server_stage::hello) {
        const bool together = slot.have == 0 && tls_ctx == nullptr && scratch.size() > hello_len;
        std::byte* into = together ? scratch.data() : slot.hello_buf + slot.have;
        const std::size_t want = together
                                     ? std::min<std::size_t>(scratch.size(), hello_len + job.request_size)
                                     : hello_len - slot.have;
        ssize_t n = ::recv(slot.fd, into, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            // Gone before a complete hello: never a measured connection. One that sent nothing
            // at all is a client abandoning a connect at its window end, not a refusal.
            if (slot.have > 0) return reject(w, s, k);
            return server_close(w, s, k);
        }
        if (together) {
            const std::size_t h = std::min<std::size_t>(static_cast<std::size_t>(n), hello_len);
            std::memcpy(slot.hello_buf, scratch.data(), h);
            early = static_cast<std::size_t>(n) - h;
            n = static_cast<ssize_t>(h);
        }
        slot.have += static_cast<std::uint32_t>(n);
        hello h;
        std::size_t used = 0;
        auto p = parse_hello({slot.hello_buf, slot.have}, job.token, h, used);
        if (p == hello_parse::incomplete) return;
        if (p != hello_parse::ok || h.purpose != hello_purpose::crr || h.candidate >= job.flows)
            return reject(w, s, k);
        pending_remove(s, k);
        slot.flow = h.candidate;
        slot.stage = crr_server_stage::request;
        ++s.identified;
        s.live[slot.flow].bytes_received += hello_len;
        if (tls_ctx != nullptr) {
            auto hs = tls::start(slot.fd, *tls_ctx);
            if (!hs) {
                ++s.live[slot.flow].err_connect;
                return server_close(w, s, k);
            }
            slot.hs = std::move(*hs);
            slot.stage = crr_server_stage::handshake;
        }
    }
    counters& fc = s.live[slot.flow];
    if (early > 0) {
        const auto req = std::span<const std::byte>(scratch).subspan(hello_len, early);
        if (job.verify && !w.payload().check(0, req)) ++fc.err_verify;
        slot.got = early;
        fc.bytes_received += early;
        w.moved(early);
    }
    if (slot.stage == crr_server_stage::handshake) {
        auto r = slot.hs->step();
        if (r.status == io_status::retry) return want(r.want_write ? EPOLLOUT : EPOLLIN);
        if (r.status != io_status::ok) {
            // A client that hangs up mid-handshake is one abandoning its transaction at its
            // window end, as with a connection that closes before its hello; were it a failure
            // on its side, it counts it there.
            if (r.status == io_status::error) ++fc.err_connect;
            return server_close(w, s, k);
        }
        auto io = slot.hs->finish(w.crr_tls[slot.flow]);
        slot.hs.reset();
        if (!io) {
            ++fc.err_connect;
            return server_close(w, s, k);
        }
        slot.io = std::move(*io);
        slot.stage = crr_server_stage::request;
        want(EPOLLIN);
    }
    if (slot.stage == crr_server_stage::request) {
        while (slot.got < job.request_size) {
            auto n = static_cast<std::size_t>(
                std::min<std::uint64_t>(scratch.size(), job.request_size - slot.got));
            auto r = crr_read(slot.fd, slot.io.get(), scratch.first(n));
            if (r.status == io_status::retry) return;
            if (r.status != io_status::ok) {
                // Gone before any of its request: a client abandoning its transaction at its
                // window end (over TLS a FIN without close_notify reads as an error), as with a
                // hang-up mid-handshake. Were it a failure on its side, it counts it there.
                const bool abandoned =
                    slot.got == 0 && (r.status == io_status::closed || slot.io != nullptr);
                if (!abandoned) ++fc.err_read;
                return server_close(w, s, k);
            }
            if (job.verify && !w.payload().check(slot.got, scratch.first(r.bytes))) ++fc.err_verify;
            slot.got += r.bytes;
            fc.bytes_received += r.bytes;
            w.moved(r.bytes);
        }
        slot.stage = crr_server_stage::response;
        slot.owed = job.response_size;
    }
    if (slot.stage == crr_server_stage::response) {
        while (slot.owed > 0) {
            auto r =
                crr_write(slot.fd, slot.io.get(), w.payload().at(job.response_size - slot.owed, slot.owed));
            if (r.status == io_status::retry) {
                slot.writing = true;
                return want(EPOLLIN | EPOLLOUT);
            }
            if (r.status != io_status::ok) {
                ++fc.err_write;
                return server_close(w, s, k);
            }
            slot.owed -= r.bytes;
            fc.bytes_sent += r.bytes;
            w.moved(r.bytes);
        }
        ++fc.transactions;
        ++fc.connections; // with its transaction, as the client counts it
        w.transacted(1);
        if (job.close == crr_close::server) // ours to end: the FIN follows the response
            return server_close(w, s, k);
        slot.stage = crr_server_stage::drain;
        // The client's end comes only after it has read the response: wait for it rather
        // than read now (level-triggered, so nothing is missed).
        if (slot.writing) want(EPOLLIN);
        slot.writing = false;
        return;
    }
    if (slot.stage == crr_server_stage::drain) {
        for (;;) {
            auto r = crr_read(slot.fd, slot.io.get(), scratch);
            if (r.status == io_status::ok) continue;
            if (r.status == io_status::retry) return;
            // The client's FIN, or its RST with close: reset; over TLS a FIN may read as an
            // error (no close_notify).
            if (r.status != io_status::closed && !slot.io && job.close != crr_close::reset) ++fc.err_read;
            return server_close(w, s, k);
        }
    }
}

} // namespace crr_kind

} // namespace kp::engine
