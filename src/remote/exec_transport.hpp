#pragma once
/// The `exec:` transport: a host reached through any local command that runs its arguments on
/// the host with its stdin/stdout (`kubectl exec -i ... --`, `docker exec -i box`,
/// `ip netns exec ns1`). The runner starts `COMMAND... sh -c BOOT` with fork/exec (no local
/// shell), deploys itself through that stdio with the stream deploy (remote/stream_deploy.hpp),
/// then the boot shell verifies the binary's SHA-256 and execs `<binary> agent` on the same
/// stdio, which becomes the control stream. The command's stderr goes to the log.
///
/// Lifecycle: the local command is a child like a local agent (PR_SET_PDEATHSIG, our pipe ends
/// close when we die); the agent exits on EOF of its stdin, which the command carries over.
#include <memory>
#include <string>
#include <vector>

#include "engine/core/error.hpp"
#include "remote/ssh/transport.hpp" // deploy_report
#include "remote/transport.hpp"

namespace kp::remote {

/// How to reach one host through a command.
struct exec_options {
    std::string host_name;            ///< the plan's name, for messages and log prefixes
    std::vector<std::string> command; ///< argv prefix; a name without '/' is looked up in PATH
    std::string agent_path;           ///< a preinstalled agent binary on the host; skips deployment
    log_sink sink;                    ///< receives the command's stderr lines
};

/// "exec ip netns exec ns1", for messages and the results.
[[nodiscard]] std::string describe_exec(const std::vector<std::string>& command);

/// Starts the command, deploys `local_binary` through it (unless agent_path), starts the agent.
[[nodiscard]] result<std::unique_ptr<transport>> open_exec_agent(const exec_options& options,
                                                                 const std::string& local_binary,
                                                                 deploy_report* report = nullptr);

} // namespace kp::remote
