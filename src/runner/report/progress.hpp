#pragma once
/// The terminal while a plan runs: on a TTY one live line (instance k of n, repeat, elapsed,
/// remaining), redrawn in place; otherwise plain lines as instances finish. Agent log lines and
/// messages go through log() so they never garble the live line. Thread-safe.
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

#include "runner/results/record.hpp"

namespace kp::runner {

/// Progress of a run on a terminal (or a log file).
class progress {
  public:
    /// `total` instances, `estimate` the planned traffic time of the whole run.
    /// `quiet` (-q): no instance lines and no live line; log() still prints.
    progress(std::FILE* out, bool live, std::size_t total, std::chrono::nanoseconds estimate,
             bool quiet = false);

    /// Instance `k` (1-based) starts; `planned` is its planned traffic time.
    void begin(std::size_t k, const std::string& id, std::chrono::nanoseconds planned);
    /// Repeat `r` (0-based) of the current instance starts.
    void repeat(std::size_t r, std::size_t of);
    /// Redraws the live line (elapsed time moves); cheap, call often.
    void tick();
    /// The current instance ended.
    void end(const instance_record& r);
    /// Prints a message line above the live line.
    void log(const std::string& line);
    /// `run -i`: per-second lines while traffic runs (runner/orchestrate/live.hpp).
    void set_interval(bool on) { interval_ = on; }
    [[nodiscard]] bool interval() const { return interval_; }
    /// log() for routine information: left out when quiet.
    void note(const std::string& line);
    /// Clears the live line for good (before the summary).
    void finish();

    /// "1:05" or "1:02:03".
    [[nodiscard]] static std::string clock_text(std::chrono::seconds s);

  private:
    void draw_locked();
    void clear_locked();

    std::mutex mutex_;
    std::FILE* out_;
    bool live_;
    std::size_t total_, k_ = 0, repeat_ = 0, repeats_ = 0;
    std::string id_;
    std::chrono::nanoseconds remaining_planned_, current_planned_{0};
    std::chrono::steady_clock::time_point started_, instance_started_;
    bool drawn_ = false;
    bool quiet_ = false;
    bool interval_ = false;
};

/// The headline figures of an instance for humans: "9.41 Gbit/s", "52.1k tx/s p50 48.8 us p99 85.0 us".
[[nodiscard]] std::string headline(const instance_record& r);
/// The same from the aggregate values of a `kind` instance or (`group`) a group, as read back
/// from results.json.
[[nodiscard]] std::string headline(engine::traffic kind, const metric_values& v, bool group);

} // namespace kp::runner
