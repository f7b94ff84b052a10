// tcp_stream: a sender writes write_size slices of the pattern as fast as the socket takes them;
// a receiver reads read_size and, with verify, checks every byte at its stream offset.
#include <cerrno>

#include <ctime>

#include <linux/errqueue.h>
#include <sys/socket.h>

#include "engine/worker/worker.hpp"

namespace kp::engine {

namespace {
// Writes per readiness event: enough to amortize epoll_wait, few enough to stay fair to the
// worker's other flows.
constexpr int burst = 16;
} // namespace

void worker::stream_send(conn& c) noexcept {
    const std::size_t size = ctx_.job->write_size;
    const bool zerocopy = ctx_.job->sockopts.zerocopy && ctx_.job->tls.mode == tls_mode::none;
    const int fd = c.io->fd();
    for (int i = 0; i < burst; ++i) {
        auto data = ctx_.payload->at(c.tx_off, size);
        io_result r;
        if (zerocopy) {
            // The pattern buffer never changes, so pages pinned by MSG_ZEROCOPY stay valid
            // however late the completion comes.
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_ZEROCOPY | MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n >= 0) {
                r = {io_status::ok, static_cast<std::size_t>(n)};
                if (++c.zc_pending >= 256) reap_zerocopy(c);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                reap_zerocopy(c); // ENOBUFS: too many completions outstanding (optmem)
                r = {io_status::retry, 0, true};
            } else {
                r = {io_status::error, 0};
            }
        } else {
            r = c.io->write(data);
        }
        switch (r.status) {
        case io_status::ok:
            c.tx_off += r.bytes;
            c.c.bytes_sent += r.bytes;
            total_bytes_ += r.bytes;
            break;
        case io_status::retry:
            set_interest(c, fd, r.want_write ? EPOLLOUT : (EPOLLIN | EPOLLOUT));
            return;
        case io_status::closed:
        case io_status::error:
            fail_conn(c, &counters::err_write);
            return;
        }
    }
    set_interest(c, fd, EPOLLOUT);
}

void worker::reap_zerocopy(conn& c) noexcept {
    const int fd = c.io->fd();
    for (int i = 0; i < 64 && c.zc_pending > 0; ++i) {
        alignas(cmsghdr) char control[128];
        msghdr msg{};
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        if (::recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
            auto* serr = reinterpret_cast<sock_extended_err*>(CMSG_DATA(cm));
            if (serr->ee_origin == SO_EE_ORIGIN_ZEROCOPY)
                c.zc_pending -= std::int64_t{serr->ee_data} - std::int64_t{serr->ee_info} + 1;
        }
    }
}

void worker::stream_recv(conn& c) noexcept {
    const std::size_t size = std::min<std::size_t>(ctx_.job->read_size, scratch_.size());
    const bool verify = ctx_.job->verify;
    for (int i = 0; i < burst; ++i) {
        auto r = c.io->read({scratch_.data(), size});
        switch (r.status) {
        case io_status::ok:
            if (verify && !ctx_.payload->check(c.rx_off, {scratch_.data(), r.bytes})) ++c.c.err_verify;
            c.rx_off += r.bytes;
            c.c.bytes_received += r.bytes;
            total_bytes_ += r.bytes;
            if (r.bytes < size) return; // drained
            break;
        case io_status::retry:
            if (r.want_write) set_interest(c, c.io->fd(), EPOLLIN | EPOLLOUT);
            return;
        case io_status::closed:
            c.done = true;
            set_interest(c, c.io->fd(), 0);
            return;
        case io_status::error:
            fail_conn(c, &counters::err_read);
            return;
        }
    }
}

} // namespace kp::engine
