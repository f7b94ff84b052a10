// tcp_rr: requests of request_size and responses of response_size, framed by byte count, with up
// to in_flight requests pipelined per flow. Closed loop: a request goes out as soon as a response
// frees its place. Open loop (rate): requests are scheduled on their own clock and each latency
// counts from the scheduled time, so a stalled server cannot hide its stall (no coordinated
// omission). Pacing wakes through the epoll timeout, never a sleep.
#include <algorithm>

#include "engine/core/clock.hpp"
#include "engine/traffic/rr.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine::rr_kind {

namespace {

// Read-first passes per event (each: read, then send), so one busy flow cannot starve others.
constexpr int max_passes = 4;
// Pipelined clients read one response a pass: as many passes as the responses of a few rounds.
constexpr int max_pipelined_passes = 64;
// After a read-first that found nothing, this many sends go straight back to epoll.
constexpr std::uint32_t read_ahead_backoff = 64;

/// Client: queues the requests it may send now (all free places; open loop: those due).
void issue(worker& w, conn& c, rr_state& s, std::int64_t now) noexcept {
    if (w.ended() || c.done) return;
    const auto depth = static_cast<std::uint32_t>(s.stamps.size());
    const bool open = c.mean_gap_ns > 0;
    while (s.outstanding < depth) {
        std::int64_t t = now;
        if (open) {
            if (now < c.next_send) break;
            t = c.next_send;
            w.paced_send(t, now, s.freed);
            c.next_send += w.next_gap(c.mean_gap_ns);
        }
        s.stamps[(s.head + s.outstanding) % depth] = t;
        ++s.outstanding;
        s.tx_owed += w.job().request_size;
    }
}

/// Writes tx_owed; false when the connection failed.
bool flush(worker& w, conn& c, rr_state& s) noexcept {
    const int fd = c.io->fd();
    const std::size_t chunk = w.payload().max_chunk();
    while (s.tx_owed > 0) {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(s.tx_owed, chunk));
        auto r = c.io->write(w.payload().at(s.tx_off, n));
        switch (r.status) {
        case io_status::ok:
            s.tx_owed -= r.bytes;
            s.tx_off += r.bytes;
            c.c.bytes_sent += r.bytes;
            w.moved(r.bytes);
            break;
        case io_status::retry:
            w.set_interest(c, fd, EPOLLIN | EPOLLOUT);
            return true;
        case io_status::closed:
        case io_status::error:
            w.fail_conn(c, &counters::err_write);
            return false;
        }
    }
    if ((c.interest & EPOLLOUT) != 0) w.set_interest(c, fd, EPOLLIN);
    return true;
}

/// Reads what arrived; false when the connection ended or failed.
bool take(worker& w, conn& c, rr_state& s, io_result r) noexcept {
    if (r.status == io_status::closed) {
        c.done = true;
        w.set_interest(c, c.io->fd(), 0);
        return false;
    }
    if (r.status == io_status::error) {
        w.fail_conn(c, &counters::err_read);
        return false;
    }
    if (w.job().verify && !w.payload().check(s.rx_off, w.scratch().first(r.bytes))) ++c.c.err_verify;
    s.rx_off += r.bytes;
    c.c.bytes_received += r.bytes;
    w.moved(r.bytes);
    s.rx_partial += r.bytes;
    return true;
}

} // namespace

void prepare_client(worker& w, conn& c) {
    auto& s = c.state.emplace<rr_state>();
    s.stamps.assign(std::max(1u, w.job().in_flight), 0);
}

void prepare_server(worker&, conn& c) {
    c.state.emplace<rr_state>();
}

void start_client(worker& w, conn& c, std::int64_t now) noexcept {
    auto& s = state_of<rr_state>(c);
    w.set_interest(c, c.io->fd(), EPOLLIN);
    issue(w, c, s, now);
    flush(w, c, s);
}

void start_server(worker& w, conn& c, std::int64_t) noexcept {
    w.set_interest(c, c.io->fd(), EPOLLIN);
}

std::int64_t client_timer(worker& w, conn& c, std::int64_t now) noexcept {
    if (c.mean_gap_ns <= 0) return INT64_MAX;
    auto& s = state_of<rr_state>(c);
    issue(w, c, s, now);
    if (!flush(w, c, s)) return INT64_MAX;
    return s.outstanding < s.stamps.size() ? c.next_send : INT64_MAX;
}

void client_event(worker& w, conn& c, std::uint32_t events, bool, std::int64_t now) noexcept {
    auto& s = state_of<rr_state>(c);
    if ((events & EPOLLOUT) != 0 && !flush(w, c, s)) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
    const std::uint64_t resp = w.job().response_size;
    const auto depth = static_cast<std::uint32_t>(s.stamps.size());
    // Pipelined: one response per read, and its place goes out before the next read. Reading
    // all that arrived and sending as many requests in one write would lock the flow into
    // bursts of in_flight that the two ends take in turns, idle while the other works.
    const bool pipelined = depth > 1;
    const auto scratch =
        pipelined ? w.scratch().first(std::min<std::size_t>(w.scratch().size(), resp)) : w.scratch();
    const int passes = pipelined ? max_pipelined_passes : max_passes;
    const int reads = pipelined ? 1 : 16;
    for (int pass = 0; pass < passes; ++pass) {
        bool got = false;
        for (int i = 0; i < reads; ++i) {
            auto r = c.io->read(scratch);
            if (r.status == io_status::retry) break;
            if (!take(w, c, s, r)) return;
            got = true;
            if (s.rx_partial >= resp) now = mono_ns();
            while (s.rx_partial >= resp) {
                s.rx_partial -= resp;
                if (s.outstanding == 0) { // the server sent a response nobody asked for
                    w.fail_conn(c, &counters::err_read);
                    return;
                }
                std::int64_t sent = s.stamps[s.head];
                s.head = (s.head + 1) % depth;
                if (s.outstanding == depth) s.freed = now;
                --s.outstanding;
                ++c.c.transactions;
                w.transacted(1);
                w.record(c, now - sent);
            }
            if (r.bytes < scratch.size()) break;
        }
        if (pass > 0 && !got) {
            s.read_ahead_skip = read_ahead_backoff;
            break;
        }
        const std::uint32_t before = s.outstanding;
        issue(w, c, s, now);
        if (!flush(w, c, s)) return;
        // Read first: with requests out, their responses may already be in (a pipelined or a
        // busy path); try a read before epoll_wait, unless that has just come back empty.
        if (s.outstanding == 0 || s.outstanding == before) break;
        if (s.read_ahead_skip > 0) {
            --s.read_ahead_skip;
            break;
        }
    }
}

void server_event(worker& w, conn& c, std::uint32_t events, bool, std::int64_t) noexcept {
    auto& s = state_of<rr_state>(c);
    if ((events & EPOLLOUT) != 0 && !flush(w, c, s)) return;
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) == 0) return;
    const std::uint64_t req = w.job().request_size, resp = w.job().response_size;
    const auto scratch = w.scratch();
    for (int pass = 0; pass < max_passes; ++pass) {
        std::uint64_t served = 0;
        for (int i = 0; i < 16; ++i) {
            auto r = c.io->read(scratch);
            if (r.status == io_status::retry) break;
            if (!take(w, c, s, r)) return;
            std::uint64_t complete = s.rx_partial / req;
            s.rx_partial %= req;
            s.tx_owed += complete * resp;
            c.c.transactions += complete;
            w.transacted(complete);
            served += complete;
            if (r.bytes < scratch.size()) break;
        }
        if (pass > 0 && served == 0) {
            s.read_ahead_skip = read_ahead_backoff;
            break;
        }
        if (!flush(w, c, s)) return;
        // Read first: the next request may be in by the time the responses are out.
        if (served == 0 || s.tx_owed > 0) break;
        if (s.read_ahead_skip > 0) {
            --s.read_ahead_skip;
            break;
        }
    }
}

} // namespace kp::engine::rr_kind
