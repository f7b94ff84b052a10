#pragma once
/// One run (repeat) of one instance between a client agent and a server agent:
/// listen -> connect -> establish (both) -> start (both, together) -> wait (both) -> release.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>

#include "remote/agent_client.hpp"
#include "runner/plan/expand.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// Set from the signal handler: stop traffic on every agent and wind down.
extern std::atomic<bool> interrupt_requested;
/// The signal that set interrupt_requested (SIGINT, SIGTERM), for the instances' failure.
extern std::atomic<int> interrupt_signal;

/// The two agents and addresses of one instance.
struct repeat_context {
    const instance* inst = nullptr;
    remote::agent_client* client = nullptr;
    remote::agent_client* server = nullptr;
    std::string server_address; ///< the server host's data-plane address
    std::size_t index = 0;      ///< repeat number, 0-based
    /// Called about every 100 ms while traffic runs (progress line updates).
    std::function<void()> tick;
    /// A proxy chain (`via:`), client side first: each hop's agent and data-plane address. The
    /// forwarders start back to front, each towards the next hop; the client connects to the
    /// first. Empty: the client connects to the server directly.
    std::vector<remote::agent_client*> via;
    std::vector<std::string> via_addresses;
    /// `run -i`: where the per-second lines go while traffic runs; null: none.
    progress* live = nullptr;
    /// How long both ends may take to open their data connections (`check` probes: shorter).
    std::chrono::milliseconds establish_timeout{std::chrono::seconds(30)};
};

/// Runs one repeat. On failure: which host, which step, which error. When interrupted, traffic
/// is stopped on both sides and the error says "interrupted".
[[nodiscard]] std::expected<repeat_record, failure_reason> run_repeat(const repeat_context& ctx);

/// How long past its window a side may take to report before its host counts as lost: a tenth
/// of the planned time, at least 5 s (a side lingers up to engine::silent_peer_timeout for a
/// silent peer), at most 30 s.
[[nodiscard]] remote::agent_client::timeout wait_margin(const engine::job_spec& job);

/// A fresh random run token (hex), presented in every data connection's hello.
[[nodiscard]] std::string make_token();

} // namespace kp::runner
