#pragma once
/// The local transport: `kperf-plan agent` as a child process on this host (hosts without
/// `ssh` in a plan, and quickstart). Its stdin/stdout are the control stream; its stderr is
/// forwarded line by line to the log sink, prefixed with the host name.
///
/// The child never outlives the runner: it exits on stdin EOF (the kernel closes the pipe when
/// the runner dies, even by SIGKILL), and it also gets PR_SET_PDEATHSIG.
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "remote/transport.hpp"

namespace kp::remote {

/// How to start a local agent.
struct local_options {
    std::string host_name = "local";           ///< for log prefixes and messages
    std::string executable = "/proc/self/exe"; ///< tests pass KPERF_PLAN_BIN
    std::vector<std::string> args = {"agent"};
    log_sink sink;                               ///< empty: agent stderr goes to our stderr
    std::chrono::milliseconds close_grace{3000}; ///< close(): wait this long, then SIGKILL
};

/// A child agent process and its pipes.
class local_transport final : public transport {
  public:
    /// Spawns the agent.
    static result<std::unique_ptr<local_transport>> spawn(local_options options);
    ~local_transport() override;

    result<void> write_all(std::span<const std::byte> bytes) override;
    result<std::size_t> read_some(std::span<std::byte> into, std::chrono::milliseconds timeout) override;
    void close() override;
    [[nodiscard]] std::string describe() const override;
    [[nodiscard]] std::string exit_status() override;

    /// Closes only the agent's stdin (it sees EOF) and keeps its stdout readable. Safe while
    /// another thread reads.
    void close_input();
    /// The child's process id.
    [[nodiscard]] pid_t pid() const { return pid_; }

    struct state; ///< stderr forwarding, shared with its thread

  private:
    local_transport() = default;
    /// Reaps the child if it exited, waiting up to `wait`; true when reaped.
    bool reap(std::chrono::milliseconds wait);

    local_options options_;
    pid_t pid_ = -1;
    std::atomic<int> in_ = -1; // our end of the child's stdin; close_input() runs on any thread
    int out_ = -1;             // our end of the child's stdout
    int status_ = 0;
    bool reaped_ = false;
    std::shared_ptr<state> err_;
};

} // namespace kp::remote
