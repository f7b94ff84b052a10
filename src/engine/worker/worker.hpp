#pragma once
/// A worker: one thread, one epoll set, many connections, nothing shared with other workers.
/// The session creates the connections, then the workers (pinned per the placement rule), and
/// starts them together; each runs warm-up, window and the close (until drained, or a silent
/// peer's timeout) on its own clock and stops by itself. stop() reaches it only through an
/// eventfd in its epoll set.
#include <atomic>
#include <cstdint>
#include <latch>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <sys/epoll.h>

#include "engine/core/hello.hpp"
#include "engine/core/job.hpp"
#include "engine/core/pattern.hpp"
#include "engine/core/socket.hpp"
#include "engine/stats/cpu_stats.hpp"
#include "engine/stats/interval_latency.hpp"
#include "engine/worker/finish_line.hpp"
#include "engine/worker/flow.hpp"

namespace kp::engine {

/// Monotonic times of a run, shared by all workers of a side.
struct run_window {
    std::int64_t go = 0, begin = 0, end = 0, linger_end = 0;
};

/// What every worker of a side reads (never writes) while running.
struct run_context {
    const job_spec* job = nullptr;
    const pattern* payload = nullptr;
    run_window w;
    bool server = false;
    sock_addr peer;                    ///< tcp_crr client: the server's address
    int listen_fd = -1;                ///< tcp_crr server: the listener, shared with EPOLLEXCLUSIVE
    const tls::context* tls = nullptr; ///< tcp_crr with TLS: this side's context
    /// tcp_crr server: the flows' probe connections; a client's FIN on one ends that flow.
    std::span<const int> probes;
    /// tcp_crr server: a connection's hello must be complete this soon after accept (ns).
    std::int64_t hello_timeout_ns = default_hello_timeout.count();
    finish_line* finish = nullptr; ///< each worker arrives here when its thread is done
};

class worker {
  public:
    worker(const run_context& ctx, int index, int cpu);
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;
    ~worker();

    /// Adds a connection before prepare(); the session keeps ownership.
    void add(conn* c) { conns_.push_back(c); }
    /// Sizes buffers and histograms, creates the epoll set and the stop eventfd.
    result<void> prepare();
    /// Starts the thread: it pins itself, counts down `ready`, then waits for `go`.
    void launch(std::latch& ready, std::latch& go);
    /// Asks the worker to stop now (any thread, any time).
    void stop() noexcept;
    void join();
    [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    /// How many of `samples` (and of `intervals`) are closed: written once and never again, so
    /// another thread may read them while the worker runs (the live samples of `-i`).
    [[nodiscard]] std::size_t closed_samples() const noexcept {
        return closed_samples_.load(std::memory_order_acquire);
    }

    // Results, valid after join().
    [[nodiscard]] const std::string& pin_error() const { return pin_error_; }
    [[nodiscard]] int cpu() const { return cpu_; }
    [[nodiscard]] int app_cpu() const { return app_cpu_; }
    histogram latency, connect_latency, close_latency, handshake_latency;
    /// Open loop: how late each paced send left against its schedule, or against the freeing of
    /// its in-flight place when that came later, in the window. It shows the client's own
    /// lateness (timer wake-ups, a busy CPU), which the latencies include, since they count
    /// from the scheduled send.
    histogram send_lateness;
    std::uint64_t sends_held = 0; ///< open loop: paced sends that waited for an in-flight place
    std::vector<sample> samples;     ///< per second of the window: bytes and transactions in it
    interval_latency intervals;      ///< per second of the window: the latencies record()ed in it
    std::vector<counters> crr_flows; ///< tcp_crr server: per flow, over the window
    std::vector<tls_report> crr_tls; ///< tcp_crr server over TLS: per flow, the last handshake
    counters extra;                  ///< errors not tied to a connection (accept, rejected hello)
    rusage_times rusage;
    bool reached_end = false;

    // What the traffic kinds' hooks use; only ever on the worker's own thread.

    /// Epoll tags: the high 32 bits of epoll_event.data.u64 say what the low 32 bits index.
    enum class tag : std::uint64_t { stop, conn, data, crr_slot, listener, probe };
    /// The epoll tag of `index` as a `kind`.
    static constexpr std::uint64_t tag_of(tag kind, std::uint32_t index) noexcept {
        return (static_cast<std::uint64_t>(kind) << 32) | index;
    }
    [[nodiscard]] const job_spec& job() const noexcept { return *ctx_.job; }
    [[nodiscard]] const pattern& payload() const noexcept { return *ctx_.payload; }
    [[nodiscard]] const run_context& context() const noexcept { return ctx_; }
    [[nodiscard]] int epoll_fd() const noexcept { return epoll_.get(); }
    /// A buffer for reads, at least as large as any message of the job.
    [[nodiscard]] std::span<std::byte> scratch() noexcept { return scratch_; }
    /// Inside the window: latencies are recorded (flips with the counter snapshot).
    [[nodiscard]] bool in_window() const noexcept { return in_window_; }
    /// The window has ended: no new messages.
    [[nodiscard]] bool ended() const noexcept { return ended_; }
    [[nodiscard]] bool measuring(std::int64_t now) const noexcept {
        return now >= ctx_.w.begin && now < ctx_.w.end;
    }
    /// Counts bytes moved for the per-second samples.
    void moved(std::uint64_t bytes) noexcept { total_bytes_ += bytes; }
    /// Counts transactions for the per-second samples.
    void transacted(std::uint64_t n) noexcept { total_tx_ += n; }
    /// Sets the epoll events of `fd`, one of `c`'s sockets.
    void set_interest(conn& c, int fd, std::uint32_t events) noexcept;
    /// Counts `err` and stops the connection.
    void fail_conn(conn& c, std::uint64_t counters::*err) noexcept;
    /// Records a latency in `c`'s histogram, inside the window only.
    void record(conn& c, std::int64_t ns) noexcept;
    /// Open loop: a send scheduled for `scheduled` leaves at `now` (window only). `freed` is
    /// when the in-flight place it takes came free; a send held for its place past the schedule
    /// is counted in sends_held, and its lateness counts from the place's freeing: the wait is
    /// the peer's (the latencies, timed from the schedule, include it), the rest the client's.
    void paced_send(std::int64_t scheduled, std::int64_t now, std::int64_t freed = 0) noexcept {
        if (!in_window_) return;
        const bool held = freed > scheduled;
        sends_held += held ? 1 : 0;
        send_lateness.record(static_cast<std::uint64_t>(std::max<std::int64_t>(now - (held ? freed : scheduled), 0)));
    }
    /// Open loop: the next inter-arrival gap around `mean_ns`.
    std::int64_t next_gap(double mean_ns) noexcept;

  private:
    void body(std::latch& ready, std::latch& go) noexcept;
    void loop() noexcept;
    std::int64_t on_timers(std::int64_t now) noexcept; ///< returns the next timer, or INT64_MAX
    void begin_window(std::int64_t now) noexcept;
    void end_window(std::int64_t now) noexcept;
    void probe_event(std::uint32_t index) noexcept;
    [[nodiscard]] bool drained() const noexcept;

    const run_context& ctx_;
    int index_;
    int cpu_;
    int app_cpu_ = -1;
    std::vector<conn*> conns_;
    unique_fd epoll_;
    unique_fd stop_fd_;
    std::thread thread_;
    std::atomic<bool> finished_{false};
    std::string pin_error_;
    std::vector<std::byte> scratch_;
    crr_server crr_; ///< with a listener: the tcp_crr server's connections (crr.cpp)
    counters extra_at_end_;
    std::size_t probes_ended_ = 0; ///< tcp_crr server: client flows whose probe brought a FIN
    std::vector<epoll_event> events_;
    std::uint64_t total_bytes_ = 0, total_tx_ = 0;
    std::uint64_t sample_bytes_ = 0, sample_tx_ = 0;
    std::size_t next_sample_ = 0;
    std::atomic<std::size_t> closed_samples_{0}; ///< next_sample_, published for live readers
    rusage_times ru_begin_;
    std::uint64_t rng_ = 0x9e3779b97f4a7c15ULL;
    std::int64_t wake_late_ns_ = 0; ///< open loop: how late timed waits woke (a decaying peak)
    std::int64_t spin_cap_ns_ = 0;  ///< open loop: the longest spin before a send (gap / 4)
    bool in_window_ = false, ended_ = false, paced_ = false;
    bool open_loop_ = false; ///< some connection sends on a schedule (rate:)
};

} // namespace kp::engine
