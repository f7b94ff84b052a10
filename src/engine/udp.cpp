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

#include "engine/clock.hpp"
#include "engine/hello.hpp"
#include "engine/worker.hpp"

namespace kp::engine {

namespace {

constexpr std::size_t header_size = 16;
constexpr std::uint16_t magic = 0x4b55;
constexpr std::uint16_t flag_measured = 1;

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

} // namespace

void worker::udp_send_io(conn& c, std::int64_t now) noexcept {
    if (ended_ || c.done) return;
    const std::size_t size = datagram_size(ctx_.job->write_size);
    const bool paced = c.mean_gap_ns > 0;
    now = mono_ns();
    const bool in_window = measuring(now);
    for (int i = 0; i < 64; ++i) {
        if (paced && now < c.next_send) break;
        header h{c.seq, 0, in_window ? flag_measured : std::uint16_t{0}};
        ssize_t n = send_datagram(c.udp.get(), h, ctx_.payload->at(c.seq, size - header_size));
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                set_interest(c, c.udp.get(), EPOLLOUT);
                return;
            }
            ++c.c.err_write; // e.g. ECONNREFUSED: the receiver's socket is gone
            if (paced) c.next_send += next_gap(c.mean_gap_ns);
            return;
        }
        ++c.seq;
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(n);
        total_bytes_ += static_cast<std::size_t>(n);
        if (in_window) {
            ++c.measured_sent;
            c.measured_bytes += static_cast<std::size_t>(n);
        }
        if (paced) c.next_send += next_gap(c.mean_gap_ns);
    }
    set_interest(c, c.udp.get(), paced ? 0u : std::uint32_t{EPOLLOUT});
}

void worker::udp_send_end(conn& c) noexcept {
    std::byte msg[udp_end_size];
    encode_udp_end(c.measured_sent, std::span<std::byte, udp_end_size>(msg, udp_end_size));
    auto r = c.io->write(msg);
    if (r.status != io_status::ok || r.bytes != udp_end_size) ++c.c.err_write;
}

void worker::udp_recv_io(conn& c) noexcept {
    const bool verify = ctx_.job->verify;
    const std::uint64_t window = c.seen.size() * 64;
    for (int i = 0; i < 64; ++i) {
        ssize_t n = ::recv(c.udp.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++c.c.err_read;
            return;
        }
        header h;
        if (!get_header(scratch_.data(), static_cast<std::size_t>(n), h)) {
            ++c.c.err_read;
            continue;
        }
        const bool counted = (h.flags & flag_measured) != 0;
        auto bit = [&](std::uint64_t seq) -> std::uint64_t& { return c.seen[(seq % window) / 64]; };
        auto mask = [](std::uint64_t seq) { return std::uint64_t{1} << (seq % 64); };
        if (h.seq >= c.next_expected) {
            std::uint64_t gap = h.seq - c.next_expected;
            if (gap >= window)
                std::fill(c.seen.begin(), c.seen.end(), 0);
            else
                for (std::uint64_t s = c.next_expected; s < h.seq; ++s)
                    bit(s) &= ~mask(s);
            bit(h.seq) = (bit(h.seq) & ~mask(h.seq)) | mask(h.seq);
            if (counted) c.c.lost += gap; // provisional: a late arrival takes it back
            c.next_expected = h.seq + 1;
        } else if (c.next_expected - h.seq > window) {
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
        if (!counted) continue;
        ++c.c.datagrams_received;
        c.c.bytes_received += static_cast<std::size_t>(n);
        total_bytes_ += static_cast<std::size_t>(n);
        if (verify &&
            !ctx_.payload->check(h.seq, {scratch_.data() + header_size, std::size_t(n) - header_size}))
            ++c.c.err_verify;
    }
}

void worker::udp_control_io(conn& c) noexcept {
    if (c.got_end || !c.io) return;
    auto r = c.io->read({c.end_buf + c.end_have, udp_end_size - c.end_have});
    if (r.status == io_status::retry) return;
    if (r.status == io_status::ok) {
        c.end_have += static_cast<std::uint32_t>(r.bytes);
        if (c.end_have < udp_end_size) return;
        if (parse_udp_end(std::span<const std::byte, udp_end_size>(c.end_buf, udp_end_size),
                          c.peer_measured_sent))
            c.got_end = true;
        else
            ++c.c.err_read;
    } else if (r.status == io_status::error) {
        ++c.c.err_read;
    }
    // The end note arrived (or the control connection ended): stop watching it.
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.io->fd(), nullptr);
    if (ended_ && c.role == conn_role::udp_recv) {
        udp_recv_io(c); // the last datagrams were sent before the note
        c.done = true;
    } else if (c.role != conn_role::udp_recv) {
        // Only receivers expect a note; anything else on the control connection is the peer going away.
    }
}

void worker::udp_rr_client_send(conn& c, std::int64_t now) noexcept {
    if (ended_ || c.done) return;
    const auto depth = static_cast<std::uint32_t>(c.stamps.size());
    const std::size_t size = datagram_size(ctx_.job->request_size);
    const bool open = c.mean_gap_ns > 0;
    while (c.outstanding < depth) {
        if (open && now < c.next_send) return;
        std::uint32_t s = c.head; // next free slot, scanning round-robin
        for (std::uint32_t k = 0; k < depth && c.stamps[s] != 0; ++k)
            s = (s + 1) % depth;
        std::int64_t t = open ? c.next_send : now;
        header h{c.seq, s, measuring(now) ? flag_measured : std::uint16_t{0}};
        ssize_t n = send_datagram(c.udp.get(), h, ctx_.payload->at(c.seq, size - header_size));
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) ++c.c.err_write;
            if (open) c.next_send += next_gap(c.mean_gap_ns); // a missed send is not retried late
            return;
        }
        if (open) c.next_send += next_gap(c.mean_gap_ns);
        c.stamps[s] = t;
        c.slot_seq[s] = c.seq++;
        c.head = (s + 1) % depth;
        ++c.outstanding;
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(n);
        total_bytes_ += static_cast<std::size_t>(n);
    }
}

void worker::udp_rr_client_io(conn& c, std::int64_t now) noexcept {
    const auto depth = static_cast<std::uint32_t>(c.stamps.size());
    for (int i = 0; i < 64; ++i) {
        ssize_t n = ::recv(c.udp.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++c.c.err_read;
            break;
        }
        header h;
        if (!get_header(scratch_.data(), static_cast<std::size_t>(n), h)) {
            ++c.c.err_read;
            continue;
        }
        if (h.aux >= depth || c.stamps[h.aux] == 0 || c.slot_seq[h.aux] != h.seq)
            continue; // late: already lost
        now = mono_ns();
        if (now - c.stamps[h.aux] > ctx_.job->timeout.count()) { // late, before the timer saw it
            c.stamps[h.aux] = 0;
            --c.outstanding;
            ++c.c.lost;
            ++c.c.err_timeout;
            continue;
        }
        record(c, now - c.stamps[h.aux], now);
        c.stamps[h.aux] = 0;
        --c.outstanding;
        ++c.c.transactions;
        ++total_tx_;
        ++c.c.datagrams_received;
        c.c.bytes_received += static_cast<std::size_t>(n);
        total_bytes_ += static_cast<std::size_t>(n);
        if (ctx_.job->verify &&
            !ctx_.payload->check(h.seq, {scratch_.data() + header_size, std::size_t(n) - header_size}))
            ++c.c.err_verify;
    }
    udp_rr_client_send(c, now);
}

void worker::udp_rr_timeouts(conn& c, std::int64_t now) noexcept {
    const std::int64_t timeout = ctx_.job->timeout.count();
    for (std::size_t s = 0; s < c.stamps.size() && c.outstanding > 0; ++s) {
        if (c.stamps[s] != 0 && now - c.stamps[s] > timeout) {
            c.stamps[s] = 0;
            --c.outstanding;
            ++c.c.lost;
            ++c.c.err_timeout;
        }
    }
}

void worker::udp_rr_server_io(conn& c) noexcept {
    const std::size_t size = datagram_size(ctx_.job->response_size);
    for (int i = 0; i < 64; ++i) {
        ssize_t n = ::recv(c.udp.get(), scratch_.data(), scratch_.size(), MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++c.c.err_read;
            return;
        }
        header h;
        if (!get_header(scratch_.data(), static_cast<std::size_t>(n), h)) {
            ++c.c.err_read;
            continue;
        }
        ++c.c.datagrams_received;
        c.c.bytes_received += static_cast<std::size_t>(n);
        total_bytes_ += static_cast<std::size_t>(n);
        if (ctx_.job->verify &&
            !ctx_.payload->check(h.seq, {scratch_.data() + header_size, std::size_t(n) - header_size}))
            ++c.c.err_verify;
        ssize_t m = send_datagram(c.udp.get(), h, ctx_.payload->at(h.seq, size - header_size));
        if (m < 0) {
            ++c.c.err_write; // the client will count it as lost
            continue;
        }
        ++c.c.transactions;
        ++total_tx_;
        ++c.c.datagrams_sent;
        c.c.bytes_sent += static_cast<std::size_t>(m);
        total_bytes_ += static_cast<std::size_t>(m);
    }
}

} // namespace kp::engine
