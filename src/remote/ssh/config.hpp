#pragma once
/// ssh_config: which lines of the files apply to a host, and what of them libssh 0.10 cannot
/// honour. libssh's own parser (ssh_options_parse_config) applies the values; this scan names
/// every keyword that would otherwise be ignored silently, with its file and line.
#include <string>
#include <string_view>
#include <vector>

#include <libssh/libssh.h>

#include "engine/core/error.hpp"
#include "remote/ssh/transport.hpp"

namespace kp::remote {

/// An ssh_config line that applies to the host and is not honoured as OpenSSH would.
struct config_note {
    std::string file;
    int line = 0;
    std::string keyword; ///< as written, e.g. "ServerAliveInterval"
    std::string what;    ///< why it is not honoured
    bool fatal = false;  ///< ignoring it would reach another host, or check another key: refuse
    /// "FILE:LINE: KEYWORD what".
    [[nodiscard]] std::string str() const;
};

/// What the lines that apply to one host say, beyond what libssh reads back.
struct config_scan {
    std::vector<config_note> notes;
    std::string proxy_jump;                  ///< the first ProxyJump value ("" none)
    std::string proxy_jump_at;               ///< "FILE:LINE" of it
    std::vector<std::string> identity_files; ///< every IdentityFile, as written, in order
    std::string user_known_hosts;            ///< the first UserKnownHostsFile ("" none)
    bool identity_agent = false;             ///< an IdentityAgent applies
};

/// Scans `text` (named `file` in notes) for the lines that apply to `host` (as written) and
/// `user` ("" when not known), following Include. Never fails: unreadable includes are notes.
[[nodiscard]] config_scan scan_ssh_config(std::string_view file, std::string_view text,
                                          const std::string& host, const std::string& user);

/// The files `setting` names: ~/.ssh/config and /etc/ssh/ssh_config for "", none for "none",
/// else that one file (which must exist, as for ssh -F).
[[nodiscard]] std::vector<std::string> ssh_config_files(const std::string& setting);

/// What ssh_config made of one host.
struct resolved_target {
    ssh_target target;                   ///< HostName, User and Port applied; user and port always set
    std::vector<ssh_target> jump;        ///< ProxyJump hops (or options.jump), in order
    std::string known_hosts;             ///< the file to verify against
    std::vector<std::string> identities; ///< IdentityFile values, for messages and to try
    bool identity_agent = false;
};

/// Sets up `session` for options.target as OpenSSH would: libssh's parser on the files, then the
/// plan's explicit user and port. Fatal notes are an error naming keyword and file:line; other
/// notes go to `warn` (once per file and line for the process).
[[nodiscard]] result<resolved_target> apply_ssh_config(ssh_session session, const ssh_options& options,
                                                       const log_sink& warn);

/// What apply_ssh_config makes of options.target, without connecting: e.g. the HostName of an
/// alias, for a data-plane address the plan did not give.
[[nodiscard]] result<resolved_target> resolve_ssh_target(const ssh_options& options,
                                                         const log_sink& warn = {});

/// "~/x" with $HOME.
[[nodiscard]] std::string expand_tilde(const std::string& path);

} // namespace kp::remote
