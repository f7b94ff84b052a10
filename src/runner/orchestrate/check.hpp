#pragma once
/// `kperf-plan check`: a preflight that runs no measured traffic. What each host's agent reports,
/// and one short probe per distinct route of the plan (client, `via:` hops, server): a tcp_rr
/// exchange over a fresh data connection, plus udp_rr when UDP instances use the route, so a
/// wrong or unreachable `address:` shows in seconds instead of at the start of a long run.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/job.hpp"
#include "runner/orchestrate/hosts.hpp"
#include "runner/plan/expand.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// One client-server pair of the plan, through its proxies (empty `via`: direct).
struct probe_route {
    std::string client, server;
    std::vector<std::string> via;
    bool udp = false; ///< some instance on the route is UDP: probe UDP as well
    friend bool operator==(const probe_route&, const probe_route&) = default;
};

/// The distinct routes of `instances`, in the order they first appear.
[[nodiscard]] std::vector<probe_route> probe_routes(const std::vector<instance>& instances);

/// "a -> b (2001:2::2)" or "a -> b via p (p 198.18.0.3, b 198.18.0.2)": the pair and the addresses
/// its data connections go to.
[[nodiscard]] std::string describe_route(const plan& p, const probe_route& r,
                                         const agent_pool* pool = nullptr);

/// What one probe found.
struct probe_result {
    engine::traffic kind = engine::traffic::tcp_rr;
    std::optional<failure_reason> failure; ///< empty: the probe exchanged data
    std::uint64_t transactions = 0;
    double p50_us = 0;
};

/// How long a probe's traffic runs; and how long its data connections may take to open.
struct probe_timing {
    std::chrono::nanoseconds window{std::chrono::milliseconds(100)};
    std::chrono::milliseconds establish{std::chrono::seconds(5)};
};

/// Runs one short probe of `kind` (tcp_rr or udp_rr) over `route` on the pool's agents. A route
/// whose host has no agent fails with that host's reason; no transaction in the window is a failure.
[[nodiscard]] probe_result run_probe(const plan& p, const probe_route& route, engine::traffic kind,
                                     agent_pool& pool, const probe_timing& timing);

/// The facts an agent reported for one host, a few indented lines: transport, agent binary,
/// kernel, CPUs, kTLS, interfaces; and whether `data_address` is on one of its interfaces.
[[nodiscard]] std::string format_host_facts(const host_record& h, const std::string& data_address);

} // namespace kp::runner
