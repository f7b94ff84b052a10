#pragma once
/// Where threads say they are done and a waiter blocks until all are, or a deadline passes:
/// the session waits on a condition rather than polling each worker's flag.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace kp::engine {

/// Counts arrivals; wait_until() blocks until `n` have arrived, release() or the deadline.
class finish_line {
  public:
    /// One thread is done (any thread).
    void arrive() {
        {
            std::lock_guard lock(mu_);
            ++arrived_;
        }
        cv_.notify_all();
    }
    /// Wakes every waiter now, as if all had arrived (a stop).
    void release() {
        {
            std::lock_guard lock(mu_);
            released_ = true;
        }
        cv_.notify_all();
    }
    /// True when `n` have arrived (or release() was called) before `deadline`.
    bool wait_until(std::size_t n, std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mu_);
        return cv_.wait_until(lock, deadline, [&] { return released_ || arrived_ >= n; });
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    std::size_t arrived_ = 0;
    bool released_ = false;
};

} // namespace kp::engine
