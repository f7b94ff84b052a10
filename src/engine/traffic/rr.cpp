// tcp_rr: requests of request_size and responses of response_size, framed by byte count, with up
// to in_flight requests pipelined per flow. Closed loop: a request goes out as soon as a response
// frees its place. Open loop (rate): requests are scheduled on their own clock and each latency
// counts from the scheduled time, so a stalled server cannot hide its stall (no coordinated
// omission). Pacing wakes through the epoll timeout, never a sleep.
#include <algorithm>

#include "engine/core/clock.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine {

void worker::rr_issue(conn& c, std::int64_t now) noexcept {
    if (ended_ || c.done) return;
    const auto depth = static_cast<std::uint32_t>(c.stamps.size());
    const bool open = c.mean_gap_ns > 0;
    while (c.outstanding < depth) {
        std::int64_t t = now;
        if (open) {
            if (now < c.next_send) break;
            t = c.next_send;
            c.next_send += next_gap(c.mean_gap_ns);
        }
        c.stamps[(c.head + c.outstanding) % depth] = t;
        ++c.outstanding;
        c.tx_owed += ctx_.job->request_size;
    }
}

bool worker::flush(conn& c) noexcept {
    const int fd = c.io->fd();
    const std::size_t chunk = ctx_.payload->max_chunk();
    while (c.tx_owed > 0) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(c.tx_owed, chunk));
        auto r = c.io->write(ctx_.payload->at(c.tx_off, n));
        switch (r.status) {
        case io_status::ok:
            c.tx_owed -= r.bytes;
            c.tx_off += r.bytes;
            c.c.bytes_sent += r.bytes;
            total_bytes_ += r.bytes;
            break;
        case io_status::retry:
            set_interest(c, fd, EPOLLIN | EPOLLOUT);
            return true;
        case io_status::closed:
        case io_status::error:
            fail_conn(c, &counters::err_write);
            return false;
        }
    }
    if ((c.interest & EPOLLOUT) != 0) set_interest(c, fd, EPOLLIN);
    return true;
}

void worker::rr_client_io(conn& c, std::uint32_t events, std::int64_t now) noexcept {
    if ((events & EPOLLOUT) != 0 && !flush(c)) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
    const std::uint64_t resp = ctx_.job->response_size;
    const auto depth = static_cast<std::uint32_t>(c.stamps.size());
    const bool verify = ctx_.job->verify;
    for (int i = 0; i < 16; ++i) {
        auto r = c.io->read(scratch_);
        if (r.status == io_status::retry) break;
        if (r.status == io_status::closed) {
            c.done = true;
            set_interest(c, c.io->fd(), 0);
            return;
        }
        if (r.status == io_status::error) {
            fail_conn(c, &counters::err_read);
            return;
        }
        if (verify && !ctx_.payload->check(c.rx_off, {scratch_.data(), r.bytes})) ++c.c.err_verify;
        c.rx_off += r.bytes;
        c.c.bytes_received += r.bytes;
        total_bytes_ += r.bytes;
        c.rx_partial += r.bytes;
        if (c.rx_partial >= resp) now = mono_ns();
        while (c.rx_partial >= resp) {
            c.rx_partial -= resp;
            if (c.outstanding == 0) { // the server sent a response nobody asked for
                fail_conn(c, &counters::err_read);
                return;
            }
            std::int64_t sent = c.stamps[c.head];
            c.head = (c.head + 1) % depth;
            --c.outstanding;
            ++c.c.transactions;
            ++total_tx_;
            record(c, now - sent, now);
        }
        if (r.bytes < scratch_.size()) break;
    }
    rr_issue(c, now);
    flush(c);
}

void worker::rr_server_io(conn& c, std::uint32_t events) noexcept {
    if ((events & EPOLLOUT) != 0 && !flush(c)) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
    const std::uint64_t req = ctx_.job->request_size, resp = ctx_.job->response_size;
    const bool verify = ctx_.job->verify;
    for (int i = 0; i < 16; ++i) {
        auto r = c.io->read(scratch_);
        if (r.status == io_status::retry) break;
        if (r.status == io_status::closed) {
            c.done = true;
            set_interest(c, c.io->fd(), 0);
            return;
        }
        if (r.status == io_status::error) {
            fail_conn(c, &counters::err_read);
            return;
        }
        if (verify && !ctx_.payload->check(c.rx_off, {scratch_.data(), r.bytes})) ++c.c.err_verify;
        c.rx_off += r.bytes;
        c.c.bytes_received += r.bytes;
        total_bytes_ += r.bytes;
        c.rx_partial += r.bytes;
        std::uint64_t complete = c.rx_partial / req;
        c.rx_partial %= req;
        c.tx_owed += complete * resp;
        c.c.transactions += complete;
        total_tx_ += complete;
        if (r.bytes < scratch_.size()) break;
    }
    flush(c);
}

} // namespace kp::engine
