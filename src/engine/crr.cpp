// tcp_crr: every transaction is connect, hello + request, response, close. The client times
// each step: connect (connect() to writable), the whole transaction (`latency`, from the
// scheduled start in open loop) and close (our FIN to the server's FIN). The server accepts
// throughout the run from a listener every worker shares (EPOLLEXCLUSIVE) and checks each
// connection's hello, so stray connections are counted as rejected and never measured.
#include <cerrno>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/clock.hpp"
#include "engine/hello.hpp"
#include "engine/worker.hpp"

namespace kp::engine {

namespace {
constexpr std::int64_t retry_after_error_ns = 1'000'000; // back off 1 ms after a failed connect
constexpr std::uint64_t tag_crr_slot = 3;
} // namespace

void worker::crr_start(conn& c, std::int64_t now) noexcept {
    if (ended_) return;
    const bool open = c.mean_gap_ns > 0;
    c.t_sched = open ? c.next_send : now;
    if (open) c.next_send += next_gap(c.mean_gap_ns);
    int fd = ::socket(ctx_.peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ++c.c.err_connect;
        c.next_send = now + retry_after_error_ns;
        return;
    }
    const auto& o = ctx_.job->sockopts;
    if (o.nodelay || o.sndbuf > 0 || o.rcvbuf > 0 || !o.congestion.empty() || o.max_pacing_rate > 0) {
        if (!apply_tcp_options(fd, o)) ++c.c.err_connect;
    }
    c.t_connect = mono_ns();
    if (::connect(fd, ctx_.peer.get(), ctx_.peer.len) != 0 && errno != EINPROGRESS) {
        ::close(fd);
        ++c.c.err_connect;
        c.next_send = now + retry_after_error_ns;
        return;
    }
    c.crr_fd = fd;
    c.stage = crr_stage::connecting;
    c.crr_sent = c.crr_received = 0;
    c.interest = EPOLLOUT;
    epoll_event e{EPOLLOUT, {.u64 = (std::uint64_t{1} << 32) | c.index}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0) {
        ++c.c.err_connect;
        crr_close(c);
    }
}

void worker::crr_close(conn& c) noexcept {
    if (c.crr_fd >= 0) ::close(c.crr_fd); // also leaves the epoll set
    c.crr_fd = -1;
    c.stage = crr_stage::idle;
    c.interest = 0;
}

void worker::crr_client_io(conn& c, std::uint32_t events, std::int64_t now) noexcept {
    const int fd = c.crr_fd;
    if (fd < 0) return;
    auto set = [&](std::uint32_t ev) {
        if (c.interest == ev) return;
        epoll_event e{ev, {.u64 = (std::uint64_t{1} << 32) | c.index}};
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &e) == 0) c.interest = ev;
    };
    auto broken = [&](std::uint64_t counters::*err) {
        ++(c.c.*err);
        crr_close(c);
        c.next_send = now + retry_after_error_ns;
    };
    if (c.stage == crr_stage::connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return broken(&counters::err_connect);
        if ((events & EPOLLOUT) == 0) return;
        if (c.hist != nullptr && in_window_) connect_latency.record(std::uint64_t(now - c.t_connect));
        c.stage = crr_stage::exchanging;
    }
    if (c.stage == crr_stage::exchanging) {
        while (c.crr_sent < c.crr_request.size()) {
            ssize_t n = ::send(fd, c.crr_request.data() + c.crr_sent, c.crr_request.size() - c.crr_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                return broken(&counters::err_write);
            }
            c.crr_sent += static_cast<std::size_t>(n);
            c.c.bytes_sent += static_cast<std::size_t>(n);
            total_bytes_ += static_cast<std::size_t>(n);
        }
        set(c.crr_sent < c.crr_request.size() ? (EPOLLIN | EPOLLOUT) : EPOLLIN);
        const std::uint64_t resp = ctx_.job->response_size;
        while (c.crr_received < resp) {
            ssize_t n = ::recv(fd, scratch_.data(),
                               std::min<std::uint64_t>(scratch_.size(), resp - c.crr_received), MSG_DONTWAIT);
            if (n == 0) return broken(&counters::err_read);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                return broken(&counters::err_read);
            }
            auto got = static_cast<std::size_t>(n);
            if (ctx_.job->verify && !ctx_.payload->check(c.crr_received, {scratch_.data(), got}))
                ++c.c.err_verify;
            c.crr_received += got;
            c.c.bytes_received += got;
            total_bytes_ += got;
        }
        now = mono_ns();
        record(c, now - c.t_sched, now);
        ++c.c.transactions;
        ++total_tx_;
        ::shutdown(fd, SHUT_WR);
        c.t_close = now;
        c.stage = crr_stage::closing;
        set(EPOLLIN);
    }
    if (c.stage == crr_stage::closing) {
        for (;;) {
            ssize_t n = ::recv(fd, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
            if (n > 0) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n < 0) return broken(&counters::err_read);
            break;
        }
        now = mono_ns();
        if (c.hist != nullptr && in_window_) close_latency.record(std::uint64_t(now - c.t_close));
        ++c.c.connections;
        crr_close(c);
        if (c.mean_gap_ns <= 0) crr_start(c, now);
    }
}

void worker::crr_accept() noexcept {
    for (int i = 0; i < 32; ++i) {
        int fd = ::accept4(ctx_.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++extra.err_connect;
            return;
        }
        if (crr_free_.empty()) { // more connections than flows: not ours to serve
            ::close(fd);
            ++extra.err_connect;
            continue;
        }
        if (ctx_.job->sockopts.nodelay) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        std::uint32_t s = crr_free_.back();
        crr_free_.pop_back();
        crr_server_slot& slot = crr_slots_[s];
        slot.fd = fd;
        slot.have = 0;
        slot.got = 0;
        slot.owed = 0;
        slot.stage = 0;
        epoll_event e{EPOLLIN, {.u64 = (tag_crr_slot << 32) | s}};
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0) {
            ++extra.err_connect;
            crr_server_close(s);
        }
    }
}

void worker::crr_server_close(std::uint32_t s) noexcept {
    crr_server_slot& slot = crr_slots_[s];
    if (slot.fd < 0) return;
    ::close(slot.fd);
    slot.fd = -1;
    crr_free_.push_back(s);
}

void worker::crr_server_io(std::uint32_t s, std::uint32_t) noexcept {
    crr_server_slot& slot = crr_slots_[s];
    if (slot.fd < 0) return;
    const job_spec& job = *ctx_.job;
    const std::size_t hello_len = hello_fixed_size + job.token.size();
    if (slot.stage == 0) {
        ssize_t n = ::recv(slot.fd, slot.hello_buf + slot.have, hello_len - slot.have, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n <= 0) {
            // Gone before a complete hello: never a measured connection. One that sent nothing
            // at all is a client abandoning a connect at its window end, not a refusal.
            if (slot.have > 0) ++extra.err_rejected;
            return crr_server_close(s);
        }
        slot.have += static_cast<std::uint32_t>(n);
        hello h;
        std::size_t used = 0;
        auto p = parse_hello({slot.hello_buf, slot.have}, job.token, h, used);
        if (p == hello_parse::incomplete) return;
        if (p != hello_parse::ok || h.purpose != hello_purpose::crr || h.candidate >= job.flows) {
            ++extra.err_rejected;
            return crr_server_close(s);
        }
        slot.flow = h.candidate;
        slot.stage = 1;
    }
    counters& fc = crr_live_[slot.flow];
    if (slot.stage == 1) {
        while (slot.got < job.request_size) {
            ssize_t n =
                ::recv(slot.fd, scratch_.data(),
                       std::min<std::uint64_t>(scratch_.size(), job.request_size - slot.got), MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n <= 0) {
                ++fc.err_read;
                return crr_server_close(s);
            }
            auto got = static_cast<std::size_t>(n);
            if (job.verify && !ctx_.payload->check(slot.got, {scratch_.data(), got})) ++fc.err_verify;
            slot.got += got;
            fc.bytes_received += got;
            total_bytes_ += got;
        }
        slot.stage = 2;
        slot.owed = job.response_size;
    }
    if (slot.stage == 2) {
        while (slot.owed > 0) {
            auto data = ctx_.payload->at(job.response_size - slot.owed, slot.owed);
            ssize_t n = ::send(slot.fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                epoll_event e{EPOLLIN | EPOLLOUT, {.u64 = (tag_crr_slot << 32) | s}};
                epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, slot.fd, &e);
                return;
            }
            if (n < 0) {
                ++fc.err_write;
                return crr_server_close(s);
            }
            slot.owed -= static_cast<std::size_t>(n);
            fc.bytes_sent += static_cast<std::size_t>(n);
            total_bytes_ += static_cast<std::size_t>(n);
        }
        ++fc.transactions;
        ++total_tx_;
        slot.stage = 3;
        epoll_event e{EPOLLIN, {.u64 = (tag_crr_slot << 32) | s}};
        epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, slot.fd, &e);
    }
    if (slot.stage == 3) {
        for (;;) {
            ssize_t n = ::recv(slot.fd, scratch_.data(), scratch_.size(), MSG_DONTWAIT);
            if (n > 0) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            if (n == 0)
                ++fc.connections;
            else
                ++fc.err_read;
            return crr_server_close(s);
        }
    }
}

} // namespace kp::engine
