#pragma once
/// What a run records about a proxy chain (`via:`): per hop, the forwarder host's CPU and what
/// it relayed, aggregated over the repeats; with `compare_direct:`, the same instance run
/// without the proxies and the latency and CPU the chain adds.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"
#include "runner/results/aggregate.hpp"

namespace kp::runner {

struct repeat_record;

/// One hop of the chain over the repeats (means per repeat; connections and bytes are totals).
struct hop_record {
    std::string host;
    std::string role = "proxy";
    double cpu_s = 0;                     ///< busy CPU seconds of the host over the window (/proc/stat)
    double process_cpu_s = 0;             ///< the forwarder workers' own CPU (rusage)
    std::optional<double> service_demand; ///< host CPU µs per transaction, or s per GB relayed for streams
    std::uint64_t connections = 0;        ///< relayed (from open to the window end)
    std::uint64_t bytes_forward = 0, bytes_backward = 0; ///< over the windows
    std::uint64_t errors = 0;                            ///< connect + read + write + rejected hellos
    std::string placement_note;
};

/// The same instance run directly (`compare_direct: true`), and what the chain adds.
struct direct_record {
    std::vector<repeat_record> repeats;
    instance_aggregate aggregate;
    std::optional<double> added_latency_p50_us, added_latency_p99_us; ///< chain minus direct
    std::optional<double> added_cpu_s; ///< chain (client + server + hops) minus direct (client + server)
};

/// The hops of `via` over `repeats` (each repeat's `hops` in the same order as `via`).
[[nodiscard]] std::vector<hop_record> summarize_hops(engine::traffic kind, std::span<const std::string> via,
                                                     std::span<const repeat_record> repeats);
/// Fills `direct`'s aggregate and the added figures against the chain's aggregate and hops.
void compare_direct(const instance_aggregate& chain, std::span<const hop_record> hops, direct_record& direct);
/// The sum of the hops' host CPU seconds (the CSV's proxy_cpu_s); nullopt without hops.
[[nodiscard]] std::optional<double> proxy_cpu_s(std::span<const hop_record> hops);

} // namespace kp::runner
