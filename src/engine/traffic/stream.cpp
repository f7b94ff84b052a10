// tcp_stream: a sender writes write_size slices of the pattern as fast as the socket takes them;
// a receiver reads read_size and, with verify, checks every byte at its stream offset.
#include <cerrno>

#include <ctime>

#include <linux/errqueue.h>
#include <sys/socket.h>

#include "engine/traffic/stream.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine::stream_kind {

namespace {

// Writes per readiness event: enough to amortize epoll_wait, few enough to stay fair to the
// worker's other flows.
constexpr int burst = 16;

void reap_zerocopy(conn& c, stream_send_state& s) noexcept {
    const int fd = c.io->fd();
    for (int i = 0; i < 64 && s.zc_pending > 0; ++i) {
        alignas(cmsghdr) char control[128];
        msghdr msg{};
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
            auto* serr = reinterpret_cast<sock_extended_err*>(CMSG_DATA(cm));
            if (serr->ee_origin == SO_EE_ORIGIN_ZEROCOPY)
                s.zc_pending -= std::int64_t{serr->ee_data} - std::int64_t{serr->ee_info} + 1;
        }
    }
}

void send_burst(worker& w, conn& c, stream_send_state& s) noexcept {
    const job_spec& job = w.job();
    const std::size_t size = job.write_size;
    const bool zerocopy = job.sockopts.zerocopy && job.tls.mode == tls_mode::none;
    const int fd = c.io->fd();
    for (int i = 0; i < burst; ++i) {
        auto data = w.payload().at(s.tx_off, size);
        io_result r;
        if (zerocopy) {
            // The pattern buffer never changes, so pages pinned by MSG_ZEROCOPY stay valid
            // however late the completion comes.
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_ZEROCOPY | MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                r = {io_status::ok, static_cast<std::size_t>(n)};
                if (++s.zc_pending >= 256) reap_zerocopy(c, s);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                reap_zerocopy(c, s); // ENOBUFS: too many completions outstanding (optmem)
                r = {io_status::retry, 0, true};
            } else {
                r = {io_status::error, 0};
            }
        } else {
            r = c.io->write(data);
        }
        switch (r.status) {
        case io_status::ok:
            s.tx_off += r.bytes;
            c.c.bytes_sent += r.bytes;
            w.moved(r.bytes);
            break;
        case io_status::retry:
            w.set_interest(c, fd, r.want_write ? EPOLLOUT : (EPOLLIN | EPOLLOUT));
            return;
        case io_status::closed:
        case io_status::error:
            w.fail_conn(c, &counters::err_write);
            return;
        }
    }
    w.set_interest(c, fd, EPOLLOUT);
}

} // namespace

void prepare_send(worker&, conn& c) {
    c.state.emplace<stream_send_state>();
}

void prepare_recv(worker&, conn& c) {
    c.state.emplace<stream_recv_state>();
}

void start_send(worker& w, conn& c, std::int64_t) noexcept {
    w.set_interest(c, c.io->fd(), EPOLLOUT);
}

void start_recv(worker& w, conn& c, std::int64_t) noexcept {
    w.set_interest(c, c.io->fd(), EPOLLIN);
}

void send_event(worker& w, conn& c, std::uint32_t events, bool, std::int64_t) noexcept {
    auto& s = state_of<stream_send_state>(c);
    if ((events & EPOLLERR) != 0 && s.zc_pending > 0) reap_zerocopy(c, s);
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) send_burst(w, c, s);
}

void recv_event(worker& w, conn& c, std::uint32_t, bool, std::int64_t) noexcept {
    auto& s = state_of<stream_recv_state>(c);
    const auto scratch = w.scratch();
    const std::size_t size = std::min<std::size_t>(w.job().read_size, scratch.size());
    const bool verify = w.job().verify;
    for (int i = 0; i < burst; ++i) {
        auto r = c.io->read(scratch.first(size));
        switch (r.status) {
        case io_status::ok:
            if (verify && !w.payload().check(s.rx_off, scratch.first(r.bytes))) ++c.c.err_verify;
            s.rx_off += r.bytes;
            c.c.bytes_received += r.bytes;
            w.moved(r.bytes);
            if (r.bytes < size) return; // drained
            break;
        case io_status::retry:
            if (r.want_write) w.set_interest(c, c.io->fd(), EPOLLIN | EPOLLOUT);
            return;
        case io_status::closed:
            c.done = true;
            w.set_interest(c, c.io->fd(), 0);
            return;
        case io_status::error:
            w.fail_conn(c, &counters::err_read);
            return;
        }
    }
}

} // namespace kp::engine::stream_kind
