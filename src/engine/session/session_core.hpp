#pragma once
/// What server and client sessions share once their connections exist: roles and pacing,
/// worker placement, the run (warm-up, window, linger), the CPU window and the results.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/session/session.hpp"
#include "engine/stats/cpu_stats.hpp"
#include "engine/worker/flow.hpp"
#include "engine/worker/worker.hpp"

namespace kp::engine {

/// Checks that a job can run at all (sizes, TLS with the kind); usage errors.
result<void> validate_job(const job_spec& job);
/// Connections per flow: two for bidir streams, one otherwise.
std::uint8_t conns_per_flow(const job_spec& job);
/// The role of a connection on one side.
conn_role role_for(const job_spec& job, bool server, std::uint8_t slot);

/// Which worker carries which connections, and where each worker is pinned (-1: not pinned).
struct worker_plan {
    std::vector<int> cpus;                         ///< per worker
    std::vector<std::vector<std::size_t>> members; ///< per worker: indices into the connections
    std::string note;                              ///< anything the rule could not honour
};
/// Groups connections (given their Rx CPUs and flow ids) onto workers per the placement rule.
/// Pure: the session applies it.
worker_plan plan_workers(const job_spec& job, std::span<const int> rx_cpus,
                         std::span<const std::uint32_t> flows, std::span<const int> allowed);

class session_core : public session {
  public:
    ~session_core() override;
    result<void> start(std::int64_t go_realtime_ns = 0) override;
    bool wait(std::chrono::steady_clock::time_point deadline) override;
    void stop() override;
    [[nodiscard]] side_result collect() override;
    [[nodiscard]] std::vector<sample> live_samples() const override;

  protected:
    session_core(const job_spec& job, bool server);

    job_spec job_;
    bool server_;
    bool established_ = false;
    std::unique_ptr<pattern> payload_;
    std::vector<std::unique_ptr<conn>> conns_;
    std::vector<std::unique_ptr<stream_io>> probes_; ///< tcp_crr: one hello'd connection per flow, idle
    std::vector<int> probe_rx_, probe_peer_rx_;
    run_context ctx_;
    std::string placement_note_;
    error_counts setup_errors_; ///< counted while establishing
    /// Server: refused hellos so far (the acceptor's count).
    virtual std::uint64_t rejected_hellos() const { return 0; }
    /// Called by start() before the workers run (the server hands its listener to tcp_crr).
    virtual void before_run() {}

  private:
    void clock_body();

    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<int> worker_index_; ///< per worker: its index in the placement plan
    std::unordered_map<const conn*, std::size_t> conn_worker_; ///< position in workers_ of each conn
    std::unique_ptr<std::latch> ready_, go_;
    std::thread clock_;
    std::mutex mu_;
    std::condition_variable cv_;
    finish_line finish_; ///< the workers arrive here, so wait() blocks instead of polling
    bool stop_requested_ = false;
    bool started_ = false, joined_ = false;
    std::optional<cpu_snapshot> cpu_begin_, cpu_end_;
    std::int64_t real_begin_ = 0, real_end_ = 0;
    std::vector<std::pair<std::string, std::uint64_t>> tls_stat_begin_, tls_stat_end_;
};

} // namespace kp::engine
