#include "engine/worker/worker.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>

#include <sched.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/core/clock.hpp"
#include "engine/traffic/kinds.hpp"
#include "engine/traffic/traffic.hpp"
#include "engine/worker/placement.hpp"

namespace kp::engine {

namespace {

using tag = worker::tag;
constexpr auto tag_of = worker::tag_of;

// Flows beyond this share their worker's histogram: 35 KiB each would not scale to 10k flows.
constexpr std::uint32_t max_flow_histograms = 256;
constexpr std::int64_t second_ns = 1'000'000'000;

} // namespace

counters window_delta(const counters& b, const counters& e) noexcept {
    counters d = e; // errors: as of the end
    d.bytes_sent = e.bytes_sent - b.bytes_sent;
    d.bytes_received = e.bytes_received - b.bytes_received;
    d.transactions = e.transactions - b.transactions;
    d.connections = e.connections - b.connections;
    d.datagrams_sent = e.datagrams_sent - b.datagrams_sent;
    d.datagrams_received = e.datagrams_received - b.datagrams_received;
    d.lost = e.lost - b.lost;
    d.retrans = e.retrans - b.retrans;
    d.reordered = e.reordered - b.reordered;
    d.duplicated = e.duplicated - b.duplicated;
    return d;
}

void accumulate(counters& a, const counters& b) noexcept {
    a.bytes_sent += b.bytes_sent;
    a.bytes_received += b.bytes_received;
    a.transactions += b.transactions;
    a.connections += b.connections;
    a.datagrams_sent += b.datagrams_sent;
    a.datagrams_received += b.datagrams_received;
    a.lost += b.lost;
    a.retrans += b.retrans;
    a.reordered += b.reordered;
    a.duplicated += b.duplicated;
    a.err_connect += b.err_connect;
    a.err_read += b.err_read;
    a.err_write += b.err_write;
    a.err_timeout += b.err_timeout;
    a.err_verify += b.err_verify;
    a.err_rejected += b.err_rejected;
}

worker::worker(const run_context& ctx, int index, int cpu) : ctx_(ctx), index_(index), cpu_(cpu) {}

worker::~worker() {
    stop();
    join();
    for (std::uint32_t i = 0; i < crr_.slots.size(); ++i)
        crr_kind::server_close(*this, crr_, i);
}

result<void> worker::prepare() {
    const job_spec& job = *ctx_.job;
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return fail(errno_error("epoll_create1"));
    stop_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!stop_fd_) return fail(errno_error("eventfd"));
    epoll_event ev{EPOLLIN, {.u64 = tag_of(tag::stop, 0)}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_fd_.get(), &ev) != 0)
        return fail(errno_error("epoll_ctl"));

    scratch_.resize(std::max<std::size_t>(
        {job.read_size, job.write_size, job.request_size, job.response_size, 64 * 1024}));
    events_.resize(256);
    auto window_s = std::chrono::duration<double>(job.duration).count();
    samples.assign(static_cast<std::size_t>(std::ceil(window_s)), sample{});
    for (std::size_t i = 0; i < samples.size(); ++i)
        samples[i].t = std::min<double>(double(i + 1), window_s);
    if (job.histograms) intervals.reserve(samples.size());

    double paced_rate = 0; // open loop: this worker's sends per second
    for (std::uint32_t i = 0; i < conns_.size(); ++i) {
        conn& c = *conns_[i];
        c.index = i;
        if (job.histograms) {
            if (job.flows <= max_flow_histograms) {
                c.own_hist = std::make_unique<histogram>();
                c.hist = c.own_hist.get();
            } else {
                c.hist = &latency;
            }
        }
        const role_hooks& h = hooks(c.role);
        h.prepare(*this, c);
        if (c.mean_gap_ns > 0 || h.timed) paced_ = true;
        if (c.mean_gap_ns > 0) open_loop_ = true;
        if (c.mean_gap_ns > 0) paced_rate += 1e9 / c.mean_gap_ns;
        if (c.io) {
            epoll_event e{h.reads_control ? std::uint32_t{EPOLLIN} : 0u, {.u64 = tag_of(tag::conn, i)}};
            if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.io->fd(), &e) != 0)
                return fail(errno_error("epoll_ctl"));
        }
        if (c.udp) {
            epoll_event e{0, {.u64 = tag_of(tag::data, i)}};
            if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.udp.get(), &e) != 0)
                return fail(errno_error("epoll_ctl"));
        }
    }
    if (open_loop_) {
        send_lateness.reserve();
        spin_cap_ns_ = std::clamp<std::int64_t>(static_cast<std::int64_t>(1e9 / paced_rate / 4), 2'000, 500'000);
    }
    if (ctx_.listen_fd >= 0) {
        crr_kind::server_prepare(*this, crr_);
        epoll_event e{EPOLLIN | EPOLLEXCLUSIVE, {.u64 = tag_of(tag::listener, 0)}};
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, ctx_.listen_fd, &e) != 0)
            return fail(errno_error("epoll_ctl"));
        // Every worker watches every probe (an EOF reads the same for all): each then knows on
        // its own when all client flows are finished.
        for (std::uint32_t i = 0; i < ctx_.probes.size(); ++i) {
            epoll_event p{EPOLLIN, {.u64 = tag_of(tag::probe, i)}};
            if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, ctx_.probes[i], &p) != 0)
                return fail(errno_error("epoll_ctl"));
        }
    }
    return {};
}

void worker::launch(std::latch& ready, std::latch& go) {
    thread_ = std::thread([this, &ready, &go] { body(ready, go); });
}

void worker::stop() noexcept {
    if (!stop_fd_) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
}

void worker::join() {
    if (thread_.joinable()) thread_.join();
}

void worker::body(std::latch& ready, std::latch& go) noexcept {
    if (cpu_ >= 0) {
        if (auto r = pin_thread(0, cpu_); !r) pin_error_ = r.error().message;
    }
    // The default 50 us timer slack would make every timed wake-up, and so every paced send
    // and window edge, late by about as much.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    ready.count_down();
    go.wait();
    loop();
    finished_.store(true, std::memory_order_release);
    if (ctx_.finish != nullptr) ctx_.finish->arrive();
}

std::int64_t worker::next_gap(double mean_ns) noexcept {
    if (ctx_.job->arrivals == arrival::constant) return static_cast<std::int64_t>(mean_ns);
    // xorshift64*: a private generator, no locks, no allocation.
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    double u = double((rng_ * 0x2545F4914F6CDD1DULL) >> 11) * 0x1.0p-53;
    return static_cast<std::int64_t>(-std::log1p(-u) * mean_ns);
}

void worker::set_interest(conn& c, int fd, std::uint32_t events) noexcept {
    if (c.interest == events) return;
    bool data = c.udp && fd == c.udp.get();
    epoll_event e{events, {.u64 = tag_of(data ? tag::data : tag::conn, c.index)}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &e) == 0) c.interest = events;
}

void worker::fail_conn(conn& c, std::uint64_t counters::*err) noexcept {
    ++(c.c.*err);
    c.done = true;
    int fd = c.udp ? c.udp.get() : (c.io ? c.io->fd() : -1);
    if (fd >= 0) set_interest(c, fd, 0);
}

void worker::record(conn& c, std::int64_t ns) noexcept {
    // The window flag, not the clock, decides: it flips with the counter snapshot.
    if (c.hist != nullptr && in_window_) {
        const auto v = static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
        c.hist->record(v);
        intervals.record(next_sample_, v); // the open interval: samples before it are closed
    }
}

std::int64_t worker::on_timers(std::int64_t now) noexcept {
    std::int64_t next = INT64_MAX;
    if (ended_) return next;
    for (conn* cp : conns_) {
        conn& c = *cp;
        if (c.done) continue;
        if (auto timer = hooks(c.role).timer) next = std::min(next, timer(*this, c, now));
    }
    return next;
}

void worker::loop() noexcept {
    std::int64_t now = mono_ns();
    for (conn* cp : conns_) {
        conn& c = *cp;
        // Spread the first open-loop sends over one gap, so flows do not fire in lockstep.
        if (c.mean_gap_ns > 0)
            c.next_send = now + static_cast<std::int64_t>(c.mean_gap_ns * double(c.flow % 64) / 64.0);
        hooks(c.role).start(*this, c, now);
    }
    std::int64_t next_timer = paced_ ? on_timers(now) : INT64_MAX;
    std::int64_t hello_due = INT64_MAX; // tcp_crr server: the oldest pending hello's deadline
    const std::int64_t w_begin = ctx_.w.begin, w_end = ctx_.w.end;
    for (;;) {
        std::int64_t boundary =
            !in_window_ && !ended_ ? w_begin
            : in_window_ ? std::min<std::int64_t>(w_end, w_begin + std::int64_t(next_sample_ + 1) * second_ns)
                         : ctx_.w.linger_end;
        std::int64_t wake = std::min({next_timer, boundary, hello_due});
        std::int64_t wait = std::max<std::int64_t>(0, wake - now);
        // Open loop: sleep until shortly before the next send is due, then poll without
        // blocking until it is. The margin holds the latest wake-ups this thread has seen (a
        // peak decaying over about a thousand wake-ups, so a VM's occasional late wake-up is
        // covered too), but at most a quarter of the mean gap between this worker's sends, so
        // the spinning leaves the CPU to the threads it shares it with.
        bool timed = false;
        if (open_loop_ && next_timer <= boundary && wait > 0) {
            const std::int64_t margin = std::clamp<std::int64_t>(wake_late_ns_ + 2'000, 2'000, spin_cap_ns_);
            timed = wait > margin;
            wait = timed ? wait - margin : 0;
        }
        const std::int64_t asleep = now;
        timespec ts{static_cast<time_t>(wait / second_ns), static_cast<long>(wait % second_ns)};
        int n = epoll_pwait2(epoll_.get(), events_.data(), static_cast<int>(events_.size()), &ts, nullptr);
        now = mono_ns();
        if (timed && n == 0)
            wake_late_ns_ = std::max(now - asleep - wait, wake_late_ns_ - wake_late_ns_ / 1024);
        // Window edges first, so events that arrive after the end are not counted in it.
        if (!in_window_ && !ended_ && now >= w_begin) begin_window(now);
        if (in_window_) {
            while (next_sample_ < samples.size() &&
                   now >= w_begin + std::int64_t(next_sample_ + 1) * second_ns) {
                samples[next_sample_].bytes = total_bytes_ - sample_bytes_;
                samples[next_sample_].transactions = total_tx_ - sample_tx_;
                sample_bytes_ = total_bytes_;
                sample_tx_ = total_tx_;
                ++next_sample_;
                closed_samples_.store(next_sample_, std::memory_order_release);
            }
            if (now >= w_end) end_window(now);
        }
        bool stopping = false;
        for (int i = 0; i < n; ++i) {
            const epoll_event& e = events_[static_cast<std::size_t>(i)];
            auto kind = static_cast<tag>(e.data.u64 >> 32);
            auto idx = static_cast<std::uint32_t>(e.data.u64 & 0xffffffffu);
            if (kind == tag::stop) {
                stopping = true;
            } else if (kind == tag::conn || kind == tag::data) {
                conn& c = *conns_[idx];
                const role_hooks& h = hooks(c.role);
                const bool control = kind == tag::conn;
                // A UDP flow's control connection carries the end note even once its data is done.
                if (ended_)
                    h.linger(*this, c, e.events, control);
                else if (!c.done || (control && c.udp))
                    h.event(*this, c, e.events, control, now);
                if (c.hist != nullptr) now = mono_ns(); // keep latencies honest after long handlers
            } else if (kind == tag::crr_slot) {
                crr_kind::server_event(*this, crr_, idx);
            } else if (kind == tag::listener) {
                crr_kind::server_accept(*this, crr_, now);
            } else if (kind == tag::probe) {
                probe_event(idx);
            }
        }
        if (stopping) {
            if (!ended_) end_window(now);
            break;
        }
        if (paced_ || now >= next_timer) next_timer = on_timers(now);
        if (ctx_.listen_fd >= 0) hello_due = crr_kind::server_expire(*this, crr_, now);
        // After the window: stop as soon as nothing is owed; the linger's end bounds only a
        // silent peer.
        if (ended_ && (drained() || now >= ctx_.w.linger_end)) break;
    }
    if (ctx_.listen_fd >= 0) {
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, ctx_.listen_fd, nullptr);
        for (std::uint32_t i = 0; i < crr_.slots.size(); ++i)
            crr_kind::server_close(*this, crr_, i);
        if (ended_) extra = extra_at_end_;
    }
}

void worker::begin_window(std::int64_t) noexcept {
    in_window_ = true;
    if (auto r = read_rusage(rusage_scope::thread)) ru_begin_ = *r;
    sample_bytes_ = total_bytes_;
    sample_tx_ = total_tx_;
    const bool tcp = info(ctx_.job->kind).tcp();
    for (conn* cp : conns_) {
        conn& c = *cp;
        c.at_begin = c.c;
        if (c.io && tcp) {
            if (auto t = read_tcp_info(c.io->fd())) {
                c.ti_begin = *t;
                c.has_tcp_info = true;
            }
        }
    }
    if (ctx_.listen_fd >= 0) crr_kind::server_window_begin(crr_);
}

void worker::end_window(std::int64_t now) noexcept {
    reached_end = now >= ctx_.w.end;
    bool was_in = in_window_;
    in_window_ = false;
    ended_ = true;
    if (was_in) {
        if (next_sample_ < samples.size()) {
            samples[next_sample_].bytes = total_bytes_ - sample_bytes_;
            samples[next_sample_].transactions = total_tx_ - sample_tx_;
            ++next_sample_;
            closed_samples_.store(next_sample_, std::memory_order_release);
        }
        if (auto r = read_rusage(rusage_scope::thread)) rusage = rusage_delta(ru_begin_, *r);
    }
    app_cpu_ = sched_getcpu();
    for (conn* cp : conns_) {
        conn& c = *cp;
        c.at_end = c.c;
        if (!was_in) c.at_begin = c.c;
        c.app_cpu = app_cpu_;
        int fd = c.udp ? c.udp.get() : (c.io ? c.io->fd() : -1);
        if (fd >= 0) c.rx_cpu_end = incoming_cpu(fd);
        if (c.rx_cpu_end < 0 && c.io) c.rx_cpu_end = incoming_cpu(c.io->fd());
        if (c.has_tcp_info) {
            if (auto t = read_tcp_info(c.io->fd())) c.ti_end = *t;
        }
        hooks(c.role).window_end(*this, c);
    }
    if (ctx_.listen_fd >= 0) {
        // The tcp_crr server keeps serving through the linger (uncounted), so a client whose
        // window ends a little later does not see its last transactions cut off.
        crr_kind::server_window_end(*this, crr_);
        extra_at_end_ = extra;
    }
}

bool worker::drained() const noexcept {
    if (!std::all_of(conns_.begin(), conns_.end(), [](const conn* c) { return c->done; })) return false;
    // The tcp_crr server keeps serving (uncounted) while a client flow may still be measuring:
    // until every flow's probe has brought its FIN and no transaction is open.
    if (ctx_.listen_fd < 0) return true;
    // Connections still without a hello are not the flows' (theirs came with the connect).
    return probes_ended_ == ctx_.probes.size() && crr_.identified == 0;
}

void worker::probe_event(std::uint32_t index) noexcept {
    const int fd = ctx_.probes[index];
    std::byte sink[64];
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) return; // nothing is expected on a probe: dropped
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    // The client's FIN (or a reset, or an error: that flow is over all the same).
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    ++probes_ended_;
}

void tcp_window_end(worker& w, conn& c) noexcept {
    if (!c.io) return;
    // Our FIN goes out even when the peer's came first (its window ended earlier): it waits
    // for this one, and would otherwise wait out the silent-peer timeout.
    if (!c.shut) {
        ::shutdown(c.io->fd(), SHUT_WR);
        c.shut = true;
    }
    if (!c.done) w.set_interest(c, c.io->fd(), EPOLLIN);
}

void tcp_linger(worker& w, conn& c, std::uint32_t, bool) noexcept {
    if (c.done || !c.io) return;
    for (int i = 0; i < 64; ++i) {
        auto r = c.io->read(w.scratch());
        if (r.status == io_status::ok) continue;
        if (r.status == io_status::retry) return;
        c.done = true; // peer's FIN (or a reset: the window is over, nothing to count)
        w.set_interest(c, c.io->fd(), 0);
        return;
    }
}

counters window_figures(const conn& c) noexcept {
    return window_delta(c.at_begin, c.at_end);
}

} // namespace kp::engine
