#pragma once
/// Plain figures one side of a job returns. Serialized by engine/wire/codec.hpp; merged by the runner.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/stats/histogram.hpp"

namespace kp::engine {

/// CPU time in seconds over exactly the measurement window (from /proc/stat deltas).
struct cpu_time {
    int cpu = -1; ///< -1: all CPUs
    double user = 0, nice = 0, system = 0, irq = 0, softirq = 0, steal = 0, idle = 0;
    [[nodiscard]] double busy() const { return user + nice + system + irq + softirq + steal; }
    friend bool operator==(const cpu_time&, const cpu_time&) = default;
};

/// tcp_info: deltas over the window for the counters, end values for the gauges.
struct tcp_stats {
    std::uint64_t total_retrans = 0, reord_seen = 0, delivered_ce = 0; // deltas
    std::uint32_t rtt_us = 0, rttvar_us = 0, snd_cwnd = 0;             // end values
    std::uint64_t delivery_rate = 0;                                   // bytes/s, end value
    friend bool operator==(const tcp_stats&, const tcp_stats&) = default;
};

/// Which TLS path ran for one direction of a flow: kTLS, OpenSSL in user space, or plaintext.
enum class tls_path : std::uint8_t { none, kernel, user };

/// Which TLS path actually ran for a flow, per direction.
struct tls_report {
    tls_path tx_path = tls_path::none;
    tls_path rx_path = tls_path::none;
    std::string version; ///< "TLSv1.3", ...
    std::string cipher;  ///< OpenSSL's name of the negotiated cipher
    double handshake_s = 0;
    std::string note; ///< why a path fell back, e.g. "auto: kernel has no TLS ULP (...)"
    friend bool operator==(const tls_report&, const tls_report&) = default;
};

/// The figures of one flow over the measurement window.
struct flow_result {
    std::uint32_t id = 0;
    int rx_cpu_start = -1, rx_cpu_end = -1; ///< SO_INCOMING_CPU at start and end
    int peer_rx_cpu = -1;                   ///< the other end's Rx CPU, from its hello reply
    int app_cpu = -1;                       ///< the CPU the worker actually ran on
    std::uint16_t local_port = 0, remote_port = 0;
    std::uint64_t bytes_sent = 0, bytes_received = 0;
    std::uint64_t transactions = 0, connections = 0;
    std::uint64_t datagrams_sent = 0, datagrams_received = 0, lost = 0, reordered = 0, duplicated = 0;
    histogram latency;
    tcp_stats tcp;
    tls_report tls;
    friend bool operator==(const flow_result&, const flow_result&) = default;
};

/// Sums over every flow of one side (or of one worker's share), whether or not `flows` was folded.
struct flow_totals {
    std::uint64_t flows = 0;
    std::uint64_t bytes_sent = 0, bytes_received = 0;
    std::uint64_t transactions = 0, connections = 0;
    std::uint64_t datagrams_sent = 0, datagrams_received = 0, lost = 0, reordered = 0, duplicated = 0;
    std::uint64_t total_retrans = 0; ///< tcp_info deltas of the flows' sending connections
    friend bool operator==(const flow_totals&, const flow_totals&) = default;
};

/// The spread of the per-flow headline figure (bytes, transactions or connections) over every flow.
struct flow_spread {
    double min = 0, median = 0, max = 0;
    double fairness = 0; ///< Jain's index (sum x)^2 / (n sum x^2), 1: all equal; 1 when all are zero
    friend bool operator==(const flow_spread&, const flow_spread&) = default;
};

/// What one worker thread carried: its flows' traffic as it counted it.
struct worker_summary {
    int index = -1;     ///< the worker's index in its side's placement
    int cpu = -1;       ///< the CPU it is pinned to, -1: not pinned
    int app_cpu = -1;   ///< the CPU it actually ran on
    flow_totals totals; ///< flows: how many flows it carried traffic for
    friend bool operator==(const worker_summary&, const worker_summary&) = default;
};

/// Error counters; errors are counted, never swallowed.
struct error_counts {
    std::uint64_t connect = 0, read = 0, write = 0, timeout = 0, rejected_hello = 0, verify = 0;
    friend bool operator==(const error_counts&, const error_counts&) = default;
};

/// One per-second interval sample of the whole side.
struct sample {
    double t = 0; ///< seconds since the window started
    std::uint64_t bytes = 0, transactions = 0;
    /// Latency percentiles of the interval in µs, merged over the workers (engine/stats/
    /// interval_latency.hpp, within ~3%); empty when no latency was recorded in it.
    std::optional<double> latency_p50_us, latency_p99_us;
    friend bool operator==(const sample&, const sample&) = default;
};

/// A forwarder's figures (engine/forwarder/forwarder.hpp): traffic counts over the window.
struct relay_worker {
    int cpu = -1;                  ///< the CPU the worker is pinned to, -1: not pinned
    std::uint64_t connections = 0; ///< connections admitted and relayed onward (as relay_stats)
    std::uint64_t bytes = 0;       ///< bytes relayed over the window, both directions
    friend bool operator==(const relay_worker&, const relay_worker&) = default;
};
struct relay_stats {
    std::uint64_t connections = 0;    ///< admitted and connected onward, from open to the window end
    std::uint64_t bytes_forward = 0;  ///< client -> server direction, over the window
    std::uint64_t bytes_backward = 0; ///< server -> client direction, over the window
    std::uint64_t rx_mismatch = 0;    ///< placement rx: connections on a worker not at their target CPU
    std::vector<relay_worker> workers;
    std::vector<std::uint64_t> rx_cpus; ///< connections per client-side Rx CPU (index), to the window end
    friend bool operator==(const relay_stats&, const relay_stats&) = default;
};

/// Everything one side reports for one run of one instance.
struct side_result {
    std::int64_t window_start_ns = 0, window_end_ns = 0; ///< CLOCK_REALTIME of the measurement window
    double seconds = 0;                                  ///< window length
    /// Per flow; folded (engine/stats/fold.hpp) to the lowest and highest flows by headline when
    /// there are many and the job did not ask for flow_detail.
    std::vector<flow_result> flows;
    std::uint64_t flows_omitted = 0; ///< flows left out of `flows` by folding
    flow_totals totals;              ///< over every flow, folded or not
    flow_spread spread;              ///< of the per-flow headline figure, over every flow
    std::vector<worker_summary> workers;
    histogram latency;                             ///< merged over flows
    histogram connect_latency, close_latency;      ///< tcp_crr steps
    histogram handshake_latency;                   ///< tcp_crr with TLS: the TLS handshake step
    histogram send_lateness; ///< open loop: how late paced sends left (worker::send_lateness)
    std::uint64_t sends_held = 0; ///< open loop: paced sends that waited for an in-flight place
    cpu_time cpu_total;                            ///< all CPUs
    std::vector<cpu_time> cpus;                    ///< per CPU
    double rusage_user_s = 0, rusage_system_s = 0; ///< the workers' own CPU over the window
    error_counts errors;
    std::vector<sample> samples;
    std::string placement_note; ///< e.g. the distinct_rx diagnosis
    bool ktls_available = false;
    /// /proc/net/tls_stat over the window (tls::tls_stat_delta; TlsCurr* are end values); empty
    /// where the kernel has no TLS.
    std::map<std::string, std::uint64_t> tls_stat;
    std::optional<relay_stats> relay; ///< forwarders only
    friend bool operator==(const side_result&, const side_result&) = default;
};

} // namespace kp::engine
