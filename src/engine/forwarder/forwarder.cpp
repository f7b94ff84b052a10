#include "engine/forwarder/forwarder.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <latch>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/core/hello.hpp"
#include "engine/core/socket.hpp"
#include "engine/session/session_core.hpp"
#include "engine/stats/cpu_stats.hpp"
#include "engine/traffic/traffic.hpp"
#include "engine/worker/finish_line.hpp"
#include "engine/worker/placement.hpp"

namespace kp::engine {
namespace {

constexpr std::int64_t hello_timeout_ns =
    std::chrono::duration_cast<std::chrono::nanoseconds>(default_hello_timeout).count();
constexpr std::int64_t scan_every_ns = 100'000'000;
constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
constexpr std::uint64_t tag_wake = 0, tag_listen = 1; // relays: 2 + 2 * slot + fd index
constexpr int max_events = 128;
constexpr int accepts_per_event = 64;
/// Rounds of one relay's pump before the worker turns to its other relays and its window edges:
/// a relay whose ends both keep up with it would otherwise never let go of the worker.
constexpr int rounds_per_turn = 8;

std::unexpected<error> usage(std::string message) {
    error e = make_error(std::move(message));
    e.kind = error_kind::usage;
    return std::unexpected(std::move(e));
}

/// A counter with one writer (its worker), readable from any thread. The writer adds with a
/// relaxed load and store, which compile to plain moves: no locked instruction on the hot path.
struct counter {
    std::atomic<std::uint64_t> v{0};
    void add(std::uint64_t n) noexcept {
        v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

/// A plain copy of a worker's counters, for window edges.
struct counts {
    std::uint64_t connections = 0, fwd = 0, back = 0, mismatch = 0;
    std::uint64_t err_connect = 0, err_read = 0, err_write = 0, rejected = 0;
};

counts operator-(const counts& a, const counts& b) {
    return {a.connections - b.connections,
            a.fwd - b.fwd,
            a.back - b.back,
            a.mismatch - b.mismatch,
            a.err_connect - b.err_connect,
            a.err_read - b.err_read,
            a.err_write - b.err_write,
            a.rejected - b.rejected};
}

/// What all workers read; the window edges change once, in start().
struct shared_state {
    job_spec job;
    sock_addr next;
    socket_options opts;
    std::vector<int> allowed;
    std::atomic<std::int64_t> begin{never}, end{never};
    finish_line window_done; ///< each worker arrives when its window is done; wait() blocks on it
};

/// One direction of a relay: bytes read from one socket, waiting to be written to the other.
struct direction_state {
    std::byte* buf = nullptr;
    std::uint32_t head = 0, tail = 0; ///< [head, tail) is pending
    bool eof = false;                 ///< the reading side sent its FIN
    bool shut = false;                ///< the FIN was passed on
};

/// A relayed connection pair. fd[0] faces the client (accepted), fd[1] the next hop.
/// dir[0] carries fd[0] -> fd[1] (forward), dir[1] carries fd[1] -> fd[0] (backward).
struct relay {
    enum class stage : std::uint8_t { free, hello, connecting, relaying };
    stage at = stage::free;
    int fd[2] = {-1, -1};
    bool readable[2] = {false, false}, writable[2] = {false, false};
    /// The peer's FIN (EPOLLRDHUP) is in: a short read no longer means "drained", the next read
    /// returns the end of stream, and no further edge will announce it.
    bool hup[2] = {false, false};
    direction_state dir[2];
    std::int64_t accepted_ns = 0;
    bool queued = false;                 ///< in the worker's list of relays to pump again
    std::unique_ptr<std::byte[]> memory; ///< both directions' buffers; kept when the slot is reused
};

class relay_worker {
  public:
    relay_worker(shared_state& sh, int cpu, unique_fd listener, std::size_t slots, std::uint32_t buf_size)
        : sh_(sh), cpu_(cpu), listener_(std::move(listener)), buf_size_(buf_size), slots_(slots),
          rx_(static_cast<std::size_t>(cpu_count())) {
        rx_at_end.assign(rx_.size(), 0);
        again_.reserve(slots); // each slot is queued at most once: no allocation when queueing
        turn_.reserve(slots);
        free_.reserve(slots);
        for (std::size_t i = slots; i-- > 0;)
            free_.push_back(static_cast<std::uint32_t>(i));
    }
    relay_worker(const relay_worker&) = delete;
    relay_worker& operator=(const relay_worker&) = delete;
    ~relay_worker() {
        stop();
        join();
    }

    result<void> prepare() {
        epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
        wake_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        if (!epoll_ || !wake_) return fail(errno_error("epoll/eventfd"));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = tag_wake;
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0)
            return fail(errno_error("epoll_ctl"));
        ev.data.u64 = tag_listen;
        if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listener_.get(), &ev) != 0)
            return fail(errno_error("epoll_ctl"));
        return {};
    }
    void launch(std::latch& ready) {
        thread_ = std::thread([this, &ready] { body(ready); });
    }
    /// Wakes the worker so it reads the window edges again (any thread).
    void kick() noexcept {
        std::uint64_t one = 1;
        (void)!write(wake_.get(), &one, sizeof one);
    }
    void stop() noexcept {
        stopping_.store(true, std::memory_order_release);
        if (wake_) kick();
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

    [[nodiscard]] int cpu() const { return cpu_; }
    [[nodiscard]] const std::string& pin_error() const { return pin_error_; }
    [[nodiscard]] bool window_done() const { return done_.load(std::memory_order_acquire); }
    [[nodiscard]] bool window_begun() const { return begun_.load(std::memory_order_acquire); }
    [[nodiscard]] counts live() const {
        return {c_.connections.get(), c_.fwd.get(),      c_.back.get(),      c_.mismatch.get(),
                c_.err_connect.get(), c_.err_read.get(), c_.err_write.get(), c_.rejected.get()};
    }
    // Valid once window_begun() / window_done().
    counts at_begin, at_end;
    std::vector<std::uint64_t> rx_at_end; ///< connections per Rx CPU up to the window end
    rusage_times ru_begin, ru_end;

  private:
    struct live_counts {
        counter connections, fwd, back, mismatch, err_connect, err_read, err_write, rejected;
    };

    void body(std::latch& ready) noexcept {
        if (cpu_ >= 0)
            if (auto r = pin_thread(0, cpu_); !r) pin_error_ = r.error().message;
        ready.count_down();
        if (!pin_error_.empty()) return;
        epoll_event events[max_events];
        std::int64_t last_scan = mono_ns();
        while (!stopping_.load(std::memory_order_acquire)) {
            std::int64_t now = mono_ns();
            edges(now);
            std::int64_t next = in_window_ ? sh_.end.load(std::memory_order_relaxed)
                                           : (done_.load(std::memory_order_relaxed)
                                                  ? never
                                                  : sh_.begin.load(std::memory_order_relaxed));
            if (pending_hellos_ > 0) next = std::min(next, last_scan + scan_every_ns);
            int timeout = !again_.empty() ? 0 : next == never ? -1 : ms_until(next);
            int n = epoll_wait(epoll_.get(), events, max_events, timeout);
            for (int i = 0; i < n; ++i) {
                std::uint64_t tag = events[i].data.u64;
                if (tag == tag_wake) {
                    std::uint64_t v = 0;
                    (void)!read(wake_.get(), &v, sizeof v);
                } else if (tag == tag_listen) {
                    accept_some();
                } else {
                    on_event(static_cast<std::uint32_t>((tag - 2) / 2), static_cast<int>((tag - 2) % 2),
                             events[i].events);
                }
            }
            pump_again();
            if (pending_hellos_ > 0 && mono_ns() - last_scan >= scan_every_ns) {
                last_scan = mono_ns();
                scan_hellos(last_scan);
            }
        }
        for (std::uint32_t s = 0; s < slots_.size(); ++s)
            if (slots_[s].at != relay::stage::free) close_relay(s, true);
    }

    /// Window edges: counters and this thread's rusage, taken by the worker itself.
    void edges(std::int64_t now) noexcept {
        if (!in_window_ && !begun_.load(std::memory_order_relaxed) &&
            now >= sh_.begin.load(std::memory_order_relaxed)) {
            at_begin = live();
            ru_begin = read_rusage(rusage_scope::thread).value_or(rusage_times{});
            in_window_ = true;
            begun_.store(true, std::memory_order_release);
        }
        if (in_window_ && now >= sh_.end.load(std::memory_order_relaxed)) {
            at_end = live();
            for (std::size_t c = 0; c < rx_.size(); ++c) // sized at construction: no allocation
                rx_at_end[c] = rx_[c].get();
            ru_end = read_rusage(rusage_scope::thread).value_or(rusage_times{});
            in_window_ = false;
            done_.store(true, std::memory_order_release);
            sh_.window_done.arrive();
        }
    }

    void accept_some() noexcept {
        for (int k = 0; k < accepts_per_event; ++k) {
            int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) c_.err_connect.add(1);
                return;
            }
            if (free_.empty() || !apply_tcp_options(fd, sh_.opts)) {
                c_.err_connect.add(1);
                close(fd);
                continue;
            }
            std::uint32_t s = free_.back();
            free_.pop_back();
            relay& r = slots_[s];
            if (!r.memory)
                r.memory = std::make_unique<std::byte[]>(2 * std::size_t{buf_size_}); // first use only
            r.at = relay::stage::hello;
            r.fd[0] = fd;
            r.fd[1] = -1;
            r.readable[0] = r.writable[0] = true;
            r.readable[1] = r.writable[1] = false;
            r.hup[0] = r.hup[1] = false;
            r.dir[0] = {r.memory.get(), 0, 0, false, false};
            r.dir[1] = {r.memory.get() + buf_size_, 0, 0, false, false};
            r.accepted_ns = mono_ns();
            ++pending_hellos_;
            if (!watch(s, 0)) {
                c_.err_connect.add(1);
                close_relay(s, true);
                continue;
            }
            advance(s);
        }
    }

    bool watch(std::uint32_t s, int side) noexcept {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = 2 + 2 * std::uint64_t{s} + static_cast<std::uint64_t>(side);
        return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, slots_[s].fd[side], &ev) == 0;
    }

    void on_event(std::uint32_t s, int side, std::uint32_t ev) noexcept {
        if (s >= slots_.size()) return;
        relay& r = slots_[s];
        if (r.at == relay::stage::free || r.fd[side] < 0) return; // a stale event of a closed relay
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r.readable[side] = true;
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) r.hup[side] = true;
        if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) r.writable[side] = true;
        if (r.at == relay::stage::connecting && side == 1 && r.writable[1]) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(r.fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) {
                c_.err_connect.add(1);
                return close_relay(s, true);
            }
            r.at = relay::stage::relaying;
        }
        advance(s);
    }

    /// Moves a relay as far as it can go without blocking.
    void advance(std::uint32_t s) noexcept {
        relay& r = slots_[s];
        if (r.at == relay::stage::hello && !read_hello(s)) return;
        if (r.at == relay::stage::relaying) pump(s);
    }

    /// Reads the client's hello and checks its token; once it is whole, connects to the next hop.
    /// The hello stays in the forward buffer: the next hop receives it unchanged. False while the
    /// relay is not ready to pump (hello incomplete, refused, or still connecting).
    bool read_hello(std::uint32_t s) noexcept {
        relay& r = slots_[s];
        direction_state& d = r.dir[0];
        bool eof = false;
        while (r.readable[0] && d.tail < buf_size_) {
            std::size_t want = buf_size_ - d.tail;
            ssize_t n = ::read(r.fd[0], d.buf + d.tail, want);
            if (n > 0) {
                d.tail += static_cast<std::uint32_t>(n);
                if (static_cast<std::size_t>(n) < want && !r.hup[0]) r.readable[0] = false;
            } else if (n == 0) {
                eof = true;
                r.readable[0] = false;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                r.readable[0] = false;
            } else if (errno != EINTR) {
                eof = true;
                r.readable[0] = false;
            }
        }
        hello h;
        std::size_t used = 0;
        auto verdict = parse_hello({d.buf, d.tail}, sh_.job.token, h, used);
        if (verdict == hello_parse::incomplete && !eof) return false;
        if (verdict != hello_parse::ok) { // garbage, a wrong token, or closed before the hello
            c_.rejected.add(1);
            close_relay(s, false);
            return false;
        }
        d.eof = eof;
        --pending_hellos_;
        const auto& rule = sh_.job.placement;
        const int rx = incoming_cpu(r.fd[0]); // once per connection, not per message
        if (rx >= 0 && static_cast<std::size_t>(rx) < rx_.size()) rx_[static_cast<std::size_t>(rx)].add(1);
        if (rule.how == placement_rule::kind::rx && cpu_ >= 0 && place(rule, rx, sh_.allowed) != cpu_)
            c_.mismatch.add(1);
        int up = socket(sh_.next.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (up < 0 || !apply_tcp_options(up, sh_.opts)) {
            if (up >= 0) close(up);
            c_.err_connect.add(1);
            r.at = relay::stage::relaying; // so close_relay does not count a pending hello
            close_relay(s, true);
            return false;
        }
        r.fd[1] = up;
        int rc = ::connect(up, sh_.next.get(), sh_.next.len);
        if ((rc != 0 && errno != EINPROGRESS) || !watch(s, 1)) {
            c_.err_connect.add(1);
            r.at = relay::stage::relaying;
            close_relay(s, true);
            return false;
        }
        c_.connections.add(1);
        r.at = rc == 0 ? relay::stage::relaying : relay::stage::connecting;
        r.writable[1] = rc == 0;
        return rc == 0;
    }

    /// Relays both directions until nothing moves. A full buffer stops reading its side
    /// (back-pressure: the kernel's window then closes towards the sender); EPOLLOUT on the
    /// other side resumes it. A FIN is passed on once its direction's buffer is drained.
    void pump(std::uint32_t s) noexcept {
        relay& r = slots_[s];
        bool moved = true;
        for (int round = 0; moved && round < rounds_per_turn; ++round) {
            moved = false;
            for (int k = 0; k < 2; ++k) {
                direction_state& d = r.dir[k];
                const int from = r.fd[k], to = r.fd[1 - k];
                if (d.tail > d.head && r.writable[1 - k]) {
                    std::size_t want = d.tail - d.head;
                    ssize_t n = send(to, d.buf + d.head, want, MSG_NOSIGNAL);
                    if (n > 0) {
                        d.head += static_cast<std::uint32_t>(n);
                        (k == 0 ? c_.fwd : c_.back).add(static_cast<std::uint64_t>(n));
                        if (static_cast<std::size_t>(n) < want) r.writable[1 - k] = false;
                        if (d.head == d.tail) d.head = d.tail = 0;
                        moved = true;
                    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        r.writable[1 - k] = false;
                    } else if (errno != EINTR) {
                        c_.err_write.add(1);
                        return close_relay(s, true);
                    }
                }
                if (!d.eof && r.readable[k] && d.tail < buf_size_) {
                    std::size_t want = buf_size_ - d.tail;
                    ssize_t n = ::read(from, d.buf + d.tail, want);
                    if (n > 0) {
                        d.tail += static_cast<std::uint32_t>(n);
                        if (static_cast<std::size_t>(n) < want && !r.hup[k]) r.readable[k] = false;
                        moved = true;
                    } else if (n == 0) {
                        d.eof = true;
                        moved = true;
                    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                        r.readable[k] = false;
                    } else if (errno != EINTR) {
                        c_.err_read.add(1);
                        return close_relay(s, true);
                    }
                }
                if (d.eof && !d.shut && d.head == d.tail) {
                    shutdown(to, SHUT_WR);
                    d.shut = true;
                }
            }
        }
        if (r.dir[0].shut && r.dir[1].shut) return close_relay(s, false);
        if (moved && !r.queued) { // more to move: its turn comes again after the other relays'
            r.queued = true;
            again_.push_back(s);
        }
    }

    /// Gives every relay that still had bytes to move another turn (the epoll wait before it
    /// does not block while there are any).
    void pump_again() noexcept {
        if (again_.empty()) return;
        turn_.swap(again_);
        for (std::uint32_t s : turn_) {
            relay& r = slots_[s];
            r.queued = false;
            if (r.at == relay::stage::relaying) pump(s); // the slot may have closed since
        }
        turn_.clear();
    }

    /// Closes both sockets of a relay. With `reset`, an RST tells each peer that the chain broke
    /// (a plain FIN would look like an orderly end).
    void close_relay(std::uint32_t s, bool reset) noexcept {
        relay& r = slots_[s];
        if (r.at == relay::stage::hello) --pending_hellos_;
        for (int& fd : r.fd) {
            if (fd < 0) continue;
            if (reset) {
                linger l{1, 0};
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            }
            close(fd);
            fd = -1;
        }
        r.at = relay::stage::free;
        free_.push_back(s);
    }

    void scan_hellos(std::int64_t now) noexcept {
        for (std::uint32_t s = 0; s < slots_.size() && pending_hellos_ > 0; ++s)
            if (slots_[s].at == relay::stage::hello && now - slots_[s].accepted_ns > hello_timeout_ns) {
                c_.rejected.add(1);
                close_relay(s, false);
            }
    }

    shared_state& sh_;
    int cpu_;
    unique_fd listener_, epoll_, wake_;
    std::uint32_t buf_size_;
    std::vector<relay> slots_;
    std::vector<std::uint32_t> free_;
    std::vector<std::uint32_t> again_, turn_; ///< relays to pump again, and this turn's copy
    std::size_t pending_hellos_ = 0;
    live_counts c_;
    std::vector<counter> rx_; ///< admitted connections per Rx CPU (SO_INCOMING_CPU, client side)
    bool in_window_ = false;
    std::atomic<bool> begun_{false}, done_{false}, stopping_{false};
    std::thread thread_;
    std::string pin_error_;
};

/// A listener of the reuseport group; `incoming` (>= 0) asks for connections whose Rx CPU it is.
result<unique_fd> group_listener(const sock_addr& at, int incoming) {
    unique_fd fd(socket(at.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail(errno_error("socket"));
    int one = 1;
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        return fail(errno_error("setsockopt SO_REUSEPORT"));
    if (incoming >= 0 && setsockopt(fd.get(), SOL_SOCKET, SO_INCOMING_CPU, &incoming, sizeof incoming) != 0)
        return fail(errno_error("setsockopt SO_INCOMING_CPU"));
    if (bind(fd.get(), at.get(), at.len) != 0)
        return fail(errno_error(fmt::format("bind {}", at.to_string())));
    if (::listen(fd.get(), 4096) != 0) return fail(errno_error(fmt::format("listen {}", at.to_string())));
    return fd;
}

std::chrono::steady_clock::time_point at_mono(std::int64_t ns) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
}

class forwarder_impl final : public forwarder {
  public:
    explicit forwarder_impl(const job_spec& job) { sh_.job = job; }
    ~forwarder_impl() override { stop(); }

    result<void> open(const endpoint& bind_at, const endpoint& next) {
        auto to = resolve(next.address, next.port);
        if (!to) return fail(to.error().context("next hop"));
        sh_.next = *to;
        sh_.opts = sh_.job.sockopts;
        sh_.opts.nodelay = true;      // a relay passes on what it got at once; batching is the sender's call
        sh_.opts.zerocopy = false;    // relays copy through their buffers
        sh_.opts.max_pacing_rate = 0; // pacing is the end hosts' business
        auto allowed = allowed_cpus();
        if (!allowed) return fail(allowed.error().context("placement"));
        sh_.allowed = *allowed;
        const auto& rule = sh_.job.placement;
        if (auto why = check_placement(rule, sh_.allowed)) return usage(fmt::format("placement: {}", *why));
        std::vector<int> cpus, incoming;
        const std::size_t n_allowed = std::max<std::size_t>(1, sh_.allowed.size());
        if (rule.how == placement_rule::kind::rx) {
            // One worker per allowed CPU; its listener takes the Rx CPUs that map to that CPU.
            for (int c : sh_.allowed) {
                cpus.push_back(c);
                int rx = -1;
                for (int r : sh_.allowed)
                    if (place(rule, r, sh_.allowed) == c) {
                        rx = r;
                        break;
                    }
                incoming.push_back(rx);
            }
            if (sh_.job.workers != 0 && sh_.job.workers != cpus.size())
                note_ =
                    fmt::format("placement rx: the forwarder runs one worker per allowed CPU ({}), not {}",
                                cpus.size(), sh_.job.workers);
        } else {
            std::size_t w = sh_.job.workers != 0                     ? sh_.job.workers
                            : rule.how == placement_rule::kind::cpus ? rule.cpus.size()
                                                                     : n_allowed;
            for (std::size_t k = 0; k < w; ++k) {
                cpus.push_back(place(rule, -1, sh_.allowed, k));
                incoming.push_back(-1);
            }
        }
        auto at = resolve(bind_at.address, bind_at.port);
        if (!at) return fail(at.error().context("bind"));
        const std::size_t conns = std::size_t{sh_.job.flows} * conns_per_flow(sh_.job);
        const std::size_t slots = std::min<std::size_t>(4 * conns + 64, 1u << 18);
        const std::uint32_t buf = conns > 1024 ? 16 * 1024 : relay_buffer_size;
        std::latch ready(static_cast<std::ptrdiff_t>(cpus.size()));
        for (std::size_t k = 0; k < cpus.size(); ++k) {
            auto l = group_listener(*at, incoming[k]);
            if (!l) return fail(l.error());
            if (k == 0) {
                port_ = local_port(l->get());
                at->set_port(port_);
            }
            workers_.push_back(std::make_unique<relay_worker>(sh_, cpus[k], std::move(*l), slots, buf));
            if (auto r = workers_.back()->prepare(); !r) return fail(r.error());
        }
        for (auto& w : workers_)
            w->launch(ready);
        ready.wait();
        for (auto& w : workers_)
            if (!w->pin_error().empty())
                return fail(fmt::format("pinning forwarder worker to CPU {}: {}", w->cpu(), w->pin_error()));
        return {};
    }

    [[nodiscard]] std::uint16_t port() const override { return port_; }
    [[nodiscard]] std::string tls_fingerprint() const override { return {}; }
    result<void> establish(std::chrono::steady_clock::time_point) override { return {}; }

    result<void> start(std::int64_t go_realtime_ns = 0) override {
        if (started_) return fail("start() called twice");
        // The forwarder relays all along; the instant only places its window.
        auto go_at = start_instant(go_realtime_ns);
        if (!go_at) return std::unexpected(go_at.error());
        started_ = true;
        std::int64_t go = *go_at;
        sh_.begin.store(go + sh_.job.warmup.count(), std::memory_order_relaxed);
        sh_.end.store(go + sh_.job.warmup.count() + sh_.job.duration.count(), std::memory_order_relaxed);
        for (auto& w : workers_)
            w->kick();
        clock_ = std::thread([this] { clock_body(); });
        return {};
    }

    bool wait(std::chrono::steady_clock::time_point deadline) override {
        if (!started_) return true;
        if (!stopped_ && !sh_.window_done.wait_until(workers_.size(), deadline)) return false;
        if (clock_.joinable()) clock_.join();
        return true;
    }

    void stop() override {
        {
            std::lock_guard lock(mu_);
            stop_requested_ = true;
        }
        cv_.notify_all();
        for (auto& w : workers_)
            w->stop();
        for (auto& w : workers_)
            w->join();
        if (clock_.joinable()) clock_.join();
        stopped_ = true;
        sh_.window_done.release();
    }

    [[nodiscard]] side_result collect() override {
        side_result r;
        relay_stats rs;
        bool complete = started_;
        for (auto& w : workers_) {
            counts d, errs = w->live();
            if (w->window_done()) {
                d = w->at_end - w->at_begin;
                errs = w->at_end;
                rusage_times ru = rusage_delta(w->ru_begin, w->ru_end);
                r.rusage_user_s += ru.user_s;
                r.rusage_system_s += ru.system_s;
            } else {
                complete = false;
                if (w->window_begun()) d = w->live() - w->at_begin;
            }
            // Connections count from the forwarder's start up to the window end, as errors do:
            // rr and stream connections open before the window.
            rs.connections += errs.connections;
            rs.bytes_forward += d.fwd;
            rs.bytes_backward += d.back;
            rs.rx_mismatch += errs.mismatch;
            rs.workers.push_back({w->cpu(), errs.connections, d.fwd + d.back});
            if (rs.rx_cpus.size() < w->rx_at_end.size()) rs.rx_cpus.resize(w->rx_at_end.size());
            if (w->window_done())
                for (std::size_t c = 0; c < w->rx_at_end.size(); ++c)
                    rs.rx_cpus[c] += w->rx_at_end[c];
            r.errors.connect += errs.err_connect;
            r.errors.read += errs.err_read;
            r.errors.write += errs.err_write;
            r.errors.rejected_hello += errs.rejected;
        }
        std::lock_guard lock(mu_);
        r.window_start_ns = real_begin_;
        r.window_end_ns = real_end_;
        r.seconds = complete ? std::chrono::duration<double>(sh_.job.duration).count()
                             : (real_end_ > real_begin_ ? double(real_end_ - real_begin_) / 1e9 : 0.0);
        if (cpu_begin_ && cpu_end_) {
            cpu_window w = cpu_delta_over(*cpu_begin_, *cpu_end_, r.seconds);
            r.cpu_total = w.total;
            r.cpus = std::move(w.cpus);
        }
        r.placement_note = note_;
        r.relay = std::move(rs);
        return r;
    }

    [[nodiscard]] relay_stats live() const override {
        relay_stats rs;
        for (auto& w : workers_) {
            counts c = w->live();
            rs.connections += c.connections;
            rs.bytes_forward += c.fwd;
            rs.bytes_backward += c.back;
            rs.rx_mismatch += c.mismatch;
            rs.workers.push_back({w->cpu(), c.connections, c.fwd + c.back});
        }
        return rs;
    }

  private:
    /// Takes the /proc/stat snapshots at the window's edges, like a session's clock thread.
    void clock_body() {
        std::unique_lock lock(mu_);
        if (cv_.wait_until(lock, at_mono(sh_.begin.load()), [&] { return stop_requested_; })) return;
        lock.unlock();
        auto begin = read_cpu_snapshot();
        std::int64_t real_begin = real_ns();
        lock.lock();
        if (begin) cpu_begin_ = std::move(*begin);
        real_begin_ = real_begin;
        if (cv_.wait_until(lock, at_mono(sh_.end.load()), [&] { return stop_requested_; })) {
            real_end_ = real_ns();
            return;
        }
        lock.unlock();
        auto end = read_cpu_snapshot();
        std::int64_t real_end = real_ns();
        lock.lock();
        if (end) cpu_end_ = std::move(*end);
        real_end_ = real_end;
    }

    shared_state sh_;
    std::vector<std::unique_ptr<relay_worker>> workers_;
    std::uint16_t port_ = 0;
    std::string note_;
    bool started_ = false;
    std::atomic<bool> stopped_{false};
    std::thread clock_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_requested_ = false;
    std::optional<cpu_snapshot> cpu_begin_, cpu_end_;
    std::int64_t real_begin_ = 0, real_end_ = 0;
};

} // namespace

result<std::unique_ptr<forwarder>> open_forwarder(const job_spec& job, const endpoint& bind,
                                                  const endpoint& next_hop) {
    if (auto v = validate_job(job); !v) return fail(v.error());
    if (!info(job.kind).proxyable)
        return usage("a forwarder relays TCP only; UDP kinds cannot go through a proxy");
    auto f = std::make_unique<forwarder_impl>(job);
    if (auto r = f->open(bind, next_hop); !r) return fail(r.error().context("forwarder"));
    return std::unique_ptr<forwarder>(std::move(f));
}

} // namespace kp::engine
