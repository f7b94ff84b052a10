#pragma once
/// A running agent's control stream: the stdin/stdout of `kperf-plan agent`, started locally
/// (a subprocess) or on a remote host (an SSH channel). Its stderr goes to the log sink.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/core/error.hpp"

namespace kp::remote {

/// Receives the agent's stderr, line by line, already prefixed with the host name.
using log_sink = std::function<void(const std::string& line)>;

/// The message of the error (kind timeout) read_some() returns when nothing arrived in time.
inline constexpr std::string_view read_timeout_message = "read timed out";

/// A bidirectional byte stream to an agent process.
/// Threading (agent_client relies on it): one thread may sit in read_some() while another calls
/// write_all() (writes are serialized by the caller). close() is called only after both stopped.
class transport {
  public:
    virtual ~transport() = default;
    /// Writes every byte or fails.
    virtual result<void> write_all(std::span<const std::byte> bytes) = 0;
    /// Reads what is available, waiting up to `timeout`; 0 bytes means end of stream.
    /// A timeout is an error of kind error_kind::timeout (callers poll with it).
    virtual result<std::size_t> read_some(std::span<std::byte> into, std::chrono::milliseconds timeout) = 0;
    /// Closes the agent's stdin (the agent then stops all traffic and exits) and reaps it.
    virtual void close() = 0;
    /// "local" or "ssh root@198.18.0.2:22", for messages.
    [[nodiscard]] virtual std::string describe() const = 0;
    /// After read_some() saw end of stream: how the agent ended, e.g. "exit code 3" or
    /// "killed by signal 9", waiting briefly for it; empty when unknown.
    [[nodiscard]] virtual std::string exit_status() { return {}; }
};

} // namespace kp::remote
