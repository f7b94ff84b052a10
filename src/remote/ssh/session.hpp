#pragma once
/// An authenticated libssh session to one host (internal to the SSH transport).
/// libssh sessions are not thread-safe: one thread at a time uses an ssh_connection.
#include <chrono>
#include <memory>
#include <string>

#include <libssh/libssh.h>

#include "engine/core/error.hpp"
#include "remote/ssh/transport.hpp"

namespace kp::remote {

class jump_link;
struct resolved_target;

/// What a remote command printed and how it ended.
struct command_output {
    int exit_status = -1; ///< -1 when the host did not report one
    std::string out;
    std::string err;
};

/// Owns a connected, verified and authenticated ssh_session; disconnects on destruction.
class ssh_connection {
  public:
    /// Resolves the target through ssh_config (notes go to `warn`), reaches it through its jump
    /// hosts if any, connects within options.connect_timeout, verifies the host key (every hop's
    /// too), authenticates.
    static result<std::unique_ptr<ssh_connection>> open(const ssh_options& options,
                                                        const log_sink& warn = {});
    ~ssh_connection();
    ssh_connection(const ssh_connection&) = delete;
    ssh_connection& operator=(const ssh_connection&) = delete;

    /// The libssh handle, for channels and SFTP.
    [[nodiscard]] ssh_session raw() const { return session_; }
    /// "host b", the prefix of every message about this host.
    [[nodiscard]] const std::string& label() const { return label_; }
    /// The plan's name for the host (or the address), for log prefixes.
    [[nodiscard]] const std::string& name() const { return name_; }
    /// "root@198.18.0.2:22", as resolved.
    [[nodiscard]] const std::string& target() const { return target_; }
    /// How it was reached: "root@198.18.0.3:22 via root@198.18.0.2:22" (hops in order).
    [[nodiscard]] std::string route() const;
    /// Runs `command` through the remote shell and collects its output, within `timeout`.
    result<command_output> run(const std::string& command, std::chrono::milliseconds timeout);

  private:
    ssh_connection(ssh_session s, std::string name, std::string target);
    static result<std::unique_ptr<ssh_connection>> open_at(const ssh_options& options, const log_sink& warn,
                                                           int depth);
    ssh_session session_;
    std::string name_;
    std::string label_;
    std::string target_;
    std::unique_ptr<jump_link> via_; ///< the jump this session runs over; outlives session_
};

/// Checks the server's key against the known_hosts file; may record it (accept_new_host_key).
/// With --accept-new-host-keys, a key it records is said on `note`: which host, which key, where.
result<void> verify_host_key(ssh_session session, const ssh_options& options, const std::string& known_hosts,
                             const log_sink& note);
/// Tries ssh-agent, the identity file, ssh_config's IdentityFile ones, then the default keys.
/// Never a password. `options.target` is the resolved one.
result<void> authenticate(ssh_session session, const ssh_options& options, const resolved_target& config);
/// The known_hosts file options name, or ~/.ssh/known_hosts.
std::string known_hosts_path(const ssh_options& options);
/// Quotes `s` for a POSIX shell: 'it'\''s'.
std::string shell_quote(const std::string& s);

} // namespace kp::remote
