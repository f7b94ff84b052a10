#pragma once
/// The SSH transport: one libssh session per host, the agent deployed over SFTP and run on an
/// exec channel whose stdin/stdout are the control stream and whose stderr goes to the log.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/error.hpp"
#include "remote/transport.hpp"

namespace kp::remote {

/// Where to connect: `[user@]host[:port]`; an IPv6 host is written `user@[2001:db8::1]:22`. The
/// host may be an ssh_config alias; a missing user or port comes from ssh_config (remote/ssh/config.hpp).
struct ssh_target {
    std::string user; ///< empty: ssh_config's User, else the local user name
    std::string host;
    std::uint16_t port = 0; ///< 0: ssh_config's Port, else 22

    /// "root@198.18.0.2:22" (IPv6 hosts in brackets; what is not known yet is left out), for messages.
    [[nodiscard]] std::string str() const;
};

/// Parses `[user@]host[:port]`; errors say what was expected (a usage error).
[[nodiscard]] result<ssh_target> parse_ssh_target(std::string_view text);

/// Everything needed to reach one host and start an agent there.
struct ssh_options {
    ssh_target target;
    /// Private key file tried after ssh-agent and before the default keys; empty: none.
    std::string identity;
    /// known_hosts file to verify against (and record into); empty: ~/.ssh/known_hosts.
    std::string known_hosts;
    /// Accept (and record) a host key that is not in known_hosts yet. A changed key is never accepted.
    bool accept_new_host_key = false;
    /// Applies to the TCP connect, the key exchange and each authentication step.
    std::chrono::milliseconds connect_timeout{5000};
    /// A preinstalled agent binary on the host; skips deployment when set.
    std::string agent_path;
    /// The plan's name for the host, used in messages and as the log prefix; empty: target.host.
    std::string host_name;
    /// ssh_config file resolving the target (as ssh -F); empty: ~/.ssh/config then
    /// /etc/ssh/ssh_config; "none": no file.
    std::string ssh_config;
    /// Jump hosts, in order (as ssh -J); empty: ProxyJump from ssh_config. Every hop's host key is
    /// checked against the same known_hosts.
    std::vector<ssh_target> jump;
};

/// What deployment did on one host.
struct deploy_report {
    bool uploaded = false;   ///< false when the binary was already there (or agent_path was used)
    std::string remote_path; ///< the binary that runs as the agent
    std::string sha256;      ///< hex digest of the local binary; empty with agent_path
    std::string method;      ///< "sftp", "exec" (uploaded that way), "cached" or "agent_path"
};

/// Connects, verifies the host key, authenticates, deploys `local_binary` if the host lacks it,
/// and runs `<binary> agent`. The agent's stderr lines go to `sink` as "<host_name>: <line>".
[[nodiscard]] result<std::unique_ptr<transport>> open_ssh_agent(const ssh_options& options,
                                                                const std::string& local_binary,
                                                                log_sink sink,
                                                                deploy_report* report = nullptr);

/// Connects like open_ssh_agent but runs `command` (a shell command line) instead of an agent,
/// without deploying anything. For tests and diagnostics.
[[nodiscard]] result<std::unique_ptr<transport>> open_ssh_command(const ssh_options& options,
                                                                  const std::string& command, log_sink sink);

} // namespace kp::remote
