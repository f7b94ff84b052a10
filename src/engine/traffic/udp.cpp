// UDP kinds. Every datagram starts with a 16-byte header, big-endian:
//   seq u64 | aux u32 (udp_rr: the client's slot) | flags u16 (bit 0: sent inside the sender's
//   window) | magic u16 "KU"
// followed by the pattern at offset `seq`. Datagrams are never shorter than the header.
// udp_stream: the sender paces to its share of `rate` (or sends while the socket takes it); the
// receiver tracks sequence numbers over a sliding bitmap (reordered, duplicated) and counts only
// datagrams the sender marked as in its window. At its window end the sender writes how many it
// marked on the flow's TCP control connection, so lost = marked sent - distinct received, exactly.
// udp_rr: up to in_flight requests per flow, each in a slot; a reply later than `timeout`
// counts as lost (and as a timeout error); a reply after that is ignored.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include <endian.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "engine/core/clock.hpp"
#include "engine/core/hello.hpp"
#include "engine/traffic/udp.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine::udp_kind {

namespace {

constexpr std::size_t header_size = 16;
constexpr std::uint16_t magic = 0x4b55;
constexpr std::uint16_t flag_measured = 1;
// Datagrams per recvmmsg call, and per event before the loop looks at other flows. (Sends stay
// one sendmsg per datagram: a sendmmsg sender lost most datagrams of a paced udp_stream through
// a tbf-shaped veth in tests/search, cause not found.)
constexpr unsigned batch_max = 64;
constexpr unsigned burst_max = 64;

struct header {
    std::uint64_t seq = 0;
    std::uint32_t aux = 0;
    std::uint16_t flags = 0;
};

void put_header(std::byte* out, const header& h) {
    std::uint64_t seq = htobe64(h.seq);
    std::uint32_t aux = htobe32(h.aux);
    std::uint16_t flags = htobe16(h.flags), m = htobe16(magic);
    std::memcpy(out, &seq, 8);
    std::memcpy(out + 8, &aux, 4);
    std::memcpy(out + 12, &flags, 2);
    std::memcpy(out + 14, &m, 2);
}

bool get_header(const std::byte* in, std::size_t n, header& h) {
    if (n < header_size) return false;
    std::uint64_t seq;
    std::uint32_t aux;
    std::uint16_t flags, m;
    std::memcpy(&seq, in, 8);
    std::memcpy(&aux, in + 8, 4);
    std::memcpy(&flags, in + 12, 2);
    std::memcpy(&m, in + 14, 2);
    if (be16toh(m) != magic) return false;
    h = {be64toh(seq), be32toh(aux), be16toh(flags)};
    return true;
}

/// Sends header + pattern slice without copying the payload.
ssize_t send_datagram(int fd, const header& h, std::span<const std::byte> payload) {
    std::byte head[header_size];
    put_header(head, h);
    iovec iov[2] = {{head, header_size}, {const_cast<std::byte*>(payload.data()), payload.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = payload.empty() ? 1 : 2;
    return ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::size_t datagram_size(std::uint32_t size) {
    return std::max<std::size_t>(size, header_size);
}

bool verified(worker& w, const header& h, std::span<const std::byte> datagram) noexcept {
    return w.payload().check(h.seq, datagram.subspan(header_size));
}

void send_burst(worker& w, conn& c, std::int64_t now) noexcept {
    if (w.ended() || c.done) return;
    auto& s = state_of<udp_send_state>(c);
    const std::size_t size = datagram_size(w.job().write_size);
    const bool paced = c.mean_gap_ns > 0;
    now = mono_ns();
    const bool in_window = w.measuring(now);
    for (int i = 0; i < 64; ++i) {
        if (paced && now < c.next_send) break;
        header h{s.seq, 0, in_window ? flag_measured : std::uint16_t{0}};
        ssize_t n = send_datagram(c.udp.get(), h, w.payload().at(s.seq, size - header_size));
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                w.set_interest(c, c.udp.get(), EPOLLOUT);
                return;
            }
            ++c.c.err_write; // e.g. ECONNREFUSED: the receiver's socket is gone
            if (paced) c.next_send += w.next_gap(c.mean_gap_ns);
            return;
        }
        ++s.seq;
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(n);
        w.moved(static_cast<std::size_t>(n));
        if (in_window) {
            ++s.measured_sent;
            s.measured_bytes += static_cast<std::size_t>(n);
        }
        if (paced) {
            w.paced_send(c.next_send, now);
            c.next_send += w.next_gap(c.mean_gap_ns);
        }
    }
    w.set_interest(c, c.udp.get(), paced ? 0u : std::uint32_t{EPOLLOUT});
}

/// Receive slots for recvmmsg in the worker's scratch buffer (at least 64 KiB, sized at
/// prepare): up to `want` datagrams of `size` bytes each; one slot of the whole buffer when
/// only one fits.
class rx_batch {
  public:
    rx_batch(std::span<std::byte> scratch, std::size_t size, unsigned want) noexcept : base_(scratch.data()) {
        const std::size_t slot = std::clamp<std::size_t>(size, 1, scratch.size());
        n_ = static_cast<unsigned>(
            std::clamp<std::size_t>(std::min<std::size_t>(scratch.size() / slot, want), 1, batch_max));
        span_ = n_ == 1 ? scratch.size() : slot;
        for (unsigned j = 0; j < n_; ++j) {
            iov_[j] = {base_ + j * span_, span_};
            msgs_[j] = {};
            msgs_[j].msg_hdr.msg_iov = &iov_[j];
            msgs_[j].msg_hdr.msg_iovlen = 1;
        }
    }
    /// One recvmmsg: the datagrams taken, or -1 (errno set; EAGAIN when none is in).
    int receive(int fd) noexcept { return ::recvmmsg(fd, msgs_, n_, MSG_DONTWAIT, nullptr); }
    /// The j-th datagram of the last receive.
    [[nodiscard]] std::span<const std::byte> datagram(int j) const noexcept {
        return {base_ + std::size_t(j) * span_, msgs_[j].msg_len};
    }
    /// Fewer than a full batch came: nothing more is queued right now.
    [[nodiscard]] bool drained(int got) const noexcept { return static_cast<unsigned>(got) < n_; }

  private:
    std::byte* base_;
    std::size_t span_ = 0;
    unsigned n_ = 1;
    iovec iov_[batch_max];
    mmsghdr msgs_[batch_max];
};

/// Accounts one received datagram: sequence tracking, loss, reorder and duplicates.
/// Takes what is in, in recvmmsg batches of `rx`, up to burst_max datagrams before the worker
/// looks at other flows, handing each datagram to `take`. A short batch means the socket is
/// drained, so no read ends in EAGAIN; any other read error counts.
template <class Take> void drain(conn& c, rx_batch& rx, Take&& take) noexcept {
    for (unsigned got = 0; got < burst_max;) {
        const int m = rx.receive(c.udp.get());
        if (m < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++c.c.err_read;
            return;
        }
        got += static_cast<unsigned>(m);
        for (int j = 0; j < m; ++j)
            take(rx.datagram(j));
        if (rx.drained(m)) return;
    }
}

void take_datagram(worker& w, conn& c, udp_recv_state& s, bool verify,
                   std::span<const std::byte> d) noexcept {
    header h;
    if (!get_header(d.data(), d.size(), h)) {
        ++c.c.err_read;
        return;
    }
    const std::uint64_t window = s.seen.size() * 64;
    const bool counted = (h.flags & flag_measured) != 0;
    auto bit = [&](std::uint64_t seq) -> std::uint64_t& { return s.seen[(seq % window) / 64]; };
    auto mask = [](std::uint64_t seq) { return std::uint64_t{1} << (seq % 64); };
    if (h.seq >= s.next_expected) {
        std::uint64_t gap = h.seq - s.next_expected;
        if (gap >= window)
            std::fill(s.seen.begin(), s.seen.end(), 0);
        else
            for (std::uint64_t q = s.next_expected; q < h.seq; ++q)
                bit(q) &= ~mask(q);
        bit(h.seq) = (bit(h.seq) & ~mask(h.seq)) | mask(h.seq);
        if (counted) c.c.lost += gap; // provisional: a late arrival takes it back
        s.next_expected = h.seq + 1;
    } else if (s.next_expected - h.seq > window) {
        if (counted) ++c.c.reordered; // too old to tell; assume a late arrival
    } else if ((bit(h.seq) & mask(h.seq)) != 0) {
        if (counted) ++c.c.duplicated;
    } else {
        bit(h.seq) |= mask(h.seq);
        if (counted) {
            ++c.c.reordered;
            if (c.c.lost > 0) --c.c.lost;
        }
    }
    if (!counted) return;
    ++c.c.datagrams_received;
    c.c.bytes_received += d.size();
    w.moved(d.size());
    if (verify && !verified(w, h, d)) ++c.c.err_verify;
}

void recv_burst(worker& w, conn& c) noexcept {
    auto& s = state_of<udp_recv_state>(c);
    const bool verify = w.job().verify;
    rx_batch rx(w.scratch(), datagram_size(w.job().write_size), batch_max);
    drain(c, rx, [&](std::span<const std::byte> d) { take_datagram(w, c, s, verify, d); });
}

/// The receiver's control connection: the sender's end note, then the end of the connection.
void read_end_note(worker& w, conn& c) noexcept {
    auto& s = state_of<udp_recv_state>(c);
    if (s.got_end || !c.io) return;
    auto r = c.io->read({s.end_buf + s.end_have, udp_end_size - s.end_have});
    if (r.status == io_status::retry) return;
    if (r.status == io_status::ok) {
        s.end_have += static_cast<std::uint32_t>(r.bytes);
        if (s.end_have < udp_end_size) return;
        if (parse_udp_end(std::span<const std::byte, udp_end_size>(s.end_buf, udp_end_size),
                          s.peer_measured_sent))
            s.got_end = true;
        else
            ++c.c.err_read;
    } else if (r.status == io_status::error) {
        ++c.c.err_read;
    }
    // The end note arrived (or the control connection ended): stop watching it.
    epoll_ctl(w.epoll_fd(), EPOLL_CTL_DEL, c.io->fd(), nullptr);
    if (w.ended()) {
        recv_burst(w, c); // the last datagrams were sent before the note
        c.done = true;
    }
}

/// Any other role's control connection: only receivers expect a note, so anything arriving on
/// it is the peer going away; stop watching it once it has ended.
void watch_control(worker& w, conn& c) noexcept {
    if (!c.io) return;
    std::byte sink[udp_end_size];
    auto r = c.io->read(sink);
    if (r.status == io_status::retry || r.status == io_status::ok) return;
    if (r.status == io_status::error) ++c.c.err_read;
    epoll_ctl(w.epoll_fd(), EPOLL_CTL_DEL, c.io->fd(), nullptr);
}

void rr_send(worker& w, conn& c, std::int64_t now) noexcept {
    if (w.ended() || c.done) return;
    auto& s = state_of<udp_rr_client_state>(c);
    const auto depth = static_cast<std::uint32_t>(s.stamps.size());
    const std::size_t size = datagram_size(w.job().request_size);
    const bool open = c.mean_gap_ns > 0;
    while (s.outstanding < depth) {
        if (open && now < c.next_send) return;
        std::uint32_t k = s.head; // next free slot, scanning round-robin
        for (std::uint32_t m = 0; m < depth && s.stamps[k] != 0; ++m)
            k = (k + 1) % depth;
        std::int64_t t = open ? c.next_send : now;
        header h{s.seq, k, w.measuring(now) ? flag_measured : std::uint16_t{0}};
        ssize_t n = send_datagram(c.udp.get(), h, w.payload().at(s.seq, size - header_size));
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) ++c.c.err_write;
            if (open) c.next_send += w.next_gap(c.mean_gap_ns); // a missed send is not retried late
            return;
        }
        if (open) {
            w.paced_send(t, now, s.freed);
            c.next_send += w.next_gap(c.mean_gap_ns);
        }
        s.stamps[k] = t;
        s.sent_at[k] = now;
        s.slot_seq[k] = s.seq++;
        s.head = (k + 1) % depth;
        ++s.outstanding;
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(n);
        w.moved(static_cast<std::size_t>(n));
    }
}

/// Frees slot `k`: its reply came, or it is lost. A full window getting a place back is noted
/// (udp_rr_client_state::freed), for the lateness of a send held for it.
void free_slot(udp_rr_client_state& s, std::size_t k, std::int64_t now) noexcept {
    if (s.outstanding == s.stamps.size()) s.freed = now;
    s.stamps[k] = 0;
    --s.outstanding;
}

void rr_timeouts(worker& w, conn& c, std::int64_t now) noexcept {
    auto& s = state_of<udp_rr_client_state>(c);
    const std::int64_t timeout = w.job().timeout.count();
    for (std::size_t k = 0; k < s.stamps.size() && s.outstanding > 0; ++k) {
        if (s.stamps[k] != 0 && now - s.sent_at[k] > timeout) {
            free_slot(s, k, now);
            ++c.c.lost;
            ++c.c.err_timeout;
        }
    }
}

} // namespace

void prepare_send(worker&, conn& c) {
    c.state.emplace<udp_send_state>();
}

void prepare_recv(worker&, conn& c) {
    c.state.emplace<udp_recv_state>().seen.assign(1024, 0); // 65536 recent sequence numbers
}

void prepare_rr_client(worker& w, conn& c) {
    auto& s = c.state.emplace<udp_rr_client_state>();
    s.stamps.assign(std::max(1u, w.job().in_flight), 0);
    s.slot_seq.assign(s.stamps.size(), 0);
    s.sent_at.assign(s.stamps.size(), 0);
}

void prepare_rr_server(worker&, conn& c) {
    c.state.emplace<udp_rr_server_state>();
}

void start_send(worker& w, conn& c, std::int64_t) noexcept {
    if (c.mean_gap_ns <= 0) w.set_interest(c, c.udp.get(), EPOLLOUT);
}

void start_reader(worker& w, conn& c, std::int64_t) noexcept {
    w.set_interest(c, c.udp.get(), EPOLLIN);
}

void start_rr_client(worker& w, conn& c, std::int64_t now) noexcept {
    w.set_interest(c, c.udp.get(), EPOLLIN);
    rr_send(w, c, now);
}

void send_event(worker& w, conn& c, std::uint32_t, bool control, std::int64_t now) noexcept {
    if (control) return watch_control(w, c);
    send_burst(w, c, now);
}

void recv_event(worker& w, conn& c, std::uint32_t, bool control, std::int64_t) noexcept {
    if (control) return read_end_note(w, c);
    recv_burst(w, c);
}

std::int64_t send_timer(worker& w, conn& c, std::int64_t now) noexcept {
    if (c.mean_gap_ns <= 0) return INT64_MAX;
    if (now >= c.next_send && (c.interest & EPOLLOUT) == 0) send_burst(w, c, now);
    return c.next_send;
}

void send_window_end(worker& w, conn& c) noexcept {
    std::byte msg[udp_end_size];
    encode_udp_end(state_of<udp_send_state>(c).measured_sent,
                   std::span<std::byte, udp_end_size>(msg, udp_end_size));
    auto r = c.io->write(msg);
    if (r.status != io_status::ok || r.bytes != udp_end_size) ++c.c.err_write;
    w.set_interest(c, c.udp.get(), 0);
    c.done = true;
}

void recv_window_end(worker& w, conn& c) noexcept {
    if (!state_of<udp_recv_state>(c).got_end) return; // the note will end it (read_end_note)
    recv_burst(w, c);
    c.done = true;
}

void quiet_window_end(worker& w, conn& c) noexcept {
    w.set_interest(c, c.udp.get(), 0);
    c.done = true;
}

void recv_linger(worker& w, conn& c, std::uint32_t, bool control) noexcept {
    if (control)
        read_end_note(w, c);
    else
        recv_burst(w, c);
}

void control_linger(worker& w, conn& c, std::uint32_t, bool control) noexcept {
    if (control) watch_control(w, c);
}

counters send_figures(const conn& c) noexcept {
    // Sent as the receiver counts it: the datagrams marked in the window.
    counters d = window_figures(c);
    const auto& s = state_of<udp_send_state>(c);
    d.datagrams_sent = s.measured_sent;
    d.bytes_sent = s.measured_bytes;
    return d;
}

counters recv_figures(const conn& c) noexcept {
    // Counted by the sender's in-window mark, not by this side's clock; lost is exact once the
    // sender's note says how many it marked.
    counters d = c.c;
    const auto& s = state_of<udp_recv_state>(c);
    if (s.got_end) {
        std::uint64_t distinct = d.datagrams_received - d.duplicated;
        d.lost = s.peer_measured_sent > distinct ? s.peer_measured_sent - distinct : 0;
    }
    return d;
}

void rr_client_event(worker& w, conn& c, std::uint32_t, bool control, std::int64_t now) noexcept {
    if (control) return watch_control(w, c);
    auto& s = state_of<udp_rr_client_state>(c);
    const auto depth = static_cast<std::uint32_t>(s.stamps.size());
    // One recvmmsg takes every reply that is in, and a short count says the socket is drained:
    // no read that ends in EAGAIN.
    // One slot more than can be in flight, so that a full flight still comes back as a short count.
    rx_batch rx(w.scratch(), datagram_size(w.job().response_size), depth + 1);
    drain(c, rx, [&](std::span<const std::byte> d) {
        header h;
        if (!get_header(d.data(), d.size(), h)) {
            ++c.c.err_read;
            return;
        }
        if (h.aux >= depth || s.stamps[h.aux] == 0 || s.slot_seq[h.aux] != h.seq)
            return; // late: already lost
        now = mono_ns();
        if (now - s.sent_at[h.aux] > w.job().timeout.count()) { // late, before the timer saw it
            free_slot(s, h.aux, now);
            ++c.c.lost;
            ++c.c.err_timeout;
            return;
        }
        w.record(c, now - s.stamps[h.aux]);
        free_slot(s, h.aux, now);
        ++c.c.transactions;
        w.transacted(1);
        ++c.c.datagrams_received;
        c.c.bytes_received += d.size();
        w.moved(d.size());
        if (w.job().verify && !verified(w, h, d)) ++c.c.err_verify;
    });
    rr_send(w, c, now);
}

void rr_server_event(worker& w, conn& c, std::uint32_t, bool control, std::int64_t) noexcept {
    if (control) return watch_control(w, c);
    const std::size_t size = datagram_size(w.job().response_size);
    const unsigned depth = std::max(1u, w.job().in_flight);
    rx_batch rx(w.scratch(), datagram_size(w.job().request_size), depth + 1); // as the client's
    drain(c, rx, [&](std::span<const std::byte> d) {
        header h;
        if (!get_header(d.data(), d.size(), h)) {
            ++c.c.err_read;
            return;
        }
        ++c.c.datagrams_received;
        c.c.bytes_received += d.size();
        w.moved(d.size());
        if (w.job().verify && !verified(w, h, d)) ++c.c.err_verify;
        ssize_t n = send_datagram(c.udp.get(), h, w.payload().at(h.seq, size - header_size));
        if (n < 0) {
            ++c.c.err_write; // the client will count it as lost
            return;
        }
        ++c.c.transactions;
        w.transacted(1);
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(n);
        w.moved(static_cast<std::size_t>(n));
    });
}

std::int64_t rr_client_timer(worker& w, conn& c, std::int64_t now) noexcept {
    rr_timeouts(w, c, now);
    rr_send(w, c, now);
    const auto& s = state_of<udp_rr_client_state>(c);
    std::int64_t next = INT64_MAX;
    if (c.mean_gap_ns > 0 && s.outstanding < s.stamps.size()) next = c.next_send;
    if (s.outstanding > 0) {
        const std::int64_t timeout = w.job().timeout.count();
        next = std::min(next, now + std::clamp<std::int64_t>(timeout / 8, 100'000, 10'000'000));
    }
    return next;
}

} // namespace kp::engine::udp_kind
