#pragma once
/// The server's admission of data connections. From listen() on, a background thread accepts,
/// reads each hello (bounded by a timeout), refuses and counts any connection whose hello is
/// garbage, late or carries the wrong token, replies with this side's Rx CPU, and then waits
/// for the client's verdict: keep it as flow F (slot S), drop it (distinct_rx over-opened it),
/// or abort the whole establishment.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/core/error.hpp"
#include "engine/core/hello.hpp"
#include "engine/core/job.hpp"
#include "engine/core/socket.hpp"

namespace kp::engine {

/// A data connection the client chose to keep.
struct accepted_conn {
    unique_fd fd;  ///< the TCP connection (blocking mode)
    unique_fd udp; ///< UDP kinds: the connected data socket
    std::uint32_t flow = 0;
    std::uint8_t slot = 0;
    int rx_cpu = -1, peer_rx_cpu = -1;
};

/// What the acceptor checks.
struct acceptor_config {
    std::string token;
    std::uint32_t flows = 1;
    std::uint8_t per_flow = 1; ///< connections per flow (bidir stream: 2)
    bool udp = false;
    socket_options options;
    std::int64_t hello_timeout_ns =
        default_hello_timeout.count(); ///< a hello must be complete this soon after accept
};

class acceptor {
  public:
    acceptor(int listen_fd, acceptor_config cfg);
    acceptor(const acceptor&) = delete;
    acceptor& operator=(const acceptor&) = delete;
    ~acceptor();

    /// Starts the accepting thread.
    result<void> start();
    /// Stops and joins the thread; pending connections are closed. Idempotent.
    void stop() noexcept;
    /// Waits until every flow's connections are kept, the client aborts, or the deadline
    /// (monotonic ns); hands over the kept connections ordered by (flow, slot).
    result<std::vector<accepted_conn>> wait_all(std::int64_t deadline_ns);
    /// Ends a wait_all() in progress (or the next one) at once with `why`, as a client abort would
    /// (the error is marked as a consequence: whoever stopped it knows the cause).
    void abort(std::string why);
    /// Connections refused for a bad, late or missing hello so far.
    [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_.load(); }

  private:
    struct pending;
    void body() noexcept;
    /// Reads from a pending connection; false when it is finished (kept, dropped or refused).
    bool advance(pending& p) noexcept;
    /// Ends the establishment with this side's own failure (descriptors ran out); the thread then
    /// closes what is pending and shuts the listener, so the client learns of it at once.
    void give_up(error why) noexcept;

    int listen_fd_;
    acceptor_config cfg_;
    unique_fd epoll_, stop_fd_;
    std::thread thread_;
    std::atomic<std::uint64_t> rejected_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<accepted_conn> kept_;
    std::vector<bool> taken_;
    bool aborted_ = false;
    error failure_;
    std::atomic<bool> gave_up_{false}; ///< give_up() ran: the thread closes pending and the listener
};

} // namespace kp::engine
