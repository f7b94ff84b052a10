#pragma once
/// Opens one agent per plan host for the whole plan, in parallel: a local child process for
/// hosts without `ssh`, an SSH-deployed agent otherwise. A host that cannot be reached is
/// recorded with its failure; the instances that need it fail, the others run.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "remote/agent_client.hpp"
#include "remote/transport.hpp"
#include "runner/orchestrate/options.hpp"
#include "runner/plan/plan.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// The open agents of a run, by plan host name (absent: the host failed to open).
struct agent_pool {
    std::map<std::string, std::unique_ptr<remote::agent_client>> agents;
    std::vector<host_record> hosts; ///< one per requested host, in plan order

    /// The agent of `host`, or nullptr.
    [[nodiscard]] remote::agent_client* find(const std::string& host) const;
    /// The record of `host`, or nullptr.
    [[nodiscard]] const host_record* record(const std::string& host) const;
    /// Takes `host` out of the run once its agent died or stopped answering (`why`): every later
    /// instance that needs it fails at once with this reason instead of waiting out its timeouts.
    void declare_dead(const std::string& host, const failure_reason& why);
    /// Asks every agent to exit and closes the transports.
    void shutdown();
    /// Agents of hosts declared dead: kept (not shut down mid-run, which could block on a hung
    /// host) until shutdown().
    std::vector<std::unique_ptr<remote::agent_client>> dead;
};

/// Opens agents for `names` (plan host names) concurrently; records caps and environment.
/// `executable` is the binary that runs as a local agent and is deployed over SSH.
[[nodiscard]] agent_pool open_agents(const plan& p, const std::set<std::string>& names,
                                     const run_options& options, const std::string& executable,
                                     const remote::log_sink& sink);

} // namespace kp::runner
