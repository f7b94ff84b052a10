#pragma once
/// The plan model: what a plan file says, typed, each value with the place it was written.
/// load_plan() checks everything (including every matrix instance), so a loaded plan expands
/// without errors (runner/plan/expand.hpp).
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/job.hpp"
#include "runner/plan/diagnostics.hpp"
#include "runner/plan/expect.hpp"
#include "runner/plan/gate.hpp"
#include "runner/plan/params.hpp"
#include "runner/plan/search_rule.hpp"
#include "runner/plan/until.hpp"

namespace kp::runner {

/// A value and where it was written.
template <class T> struct located {
    T value{};
    source_loc loc;
};

/// `ssh: [user@]host[:port]` as written; orchestration turns it into a transport target. A
/// missing user or port comes from ssh_config (else the local user name and 22).
struct ssh_address {
    std::string user; ///< empty: not written
    std::string host; ///< a name or an ssh_config alias
    std::uint16_t port = 22;
    bool port_given = false;
    /// "root@198.18.0.2:22" (IPv6 hosts in brackets); an alias written alone ("h1") stays alone.
    [[nodiscard]] std::string str() const;
};

/// A machine of the plan. Without `ssh` it is the local machine (no SSH, agent as a child).
struct host {
    std::string name;
    source_loc loc;
    std::optional<ssh_address> ssh;
    std::string address;           ///< data-plane address; default: the ssh host, or 127.0.0.1 locally
    std::string identity;          ///< private key file; empty: ssh-agent and default keys
    std::string known_hosts;       ///< empty: the plan's settings, then ~/.ssh/known_hosts
    std::string agent_path;        ///< preinstalled agent binary; empty: deploy this binary
    std::vector<std::string> exec; ///< `exec: [cmd, arg...]`: reached through this command's stdio
    /// `address: auto` (empty: the first global address) or `address: {auto: eth0}`: taken from
    /// the agent's interfaces after its hello; `address` then holds "auto" or "auto:eth0".
    std::optional<std::string> address_auto;
    std::vector<ssh_address> jump; ///< `jump:` hops, in order; empty: ProxyJump from ssh_config
    [[nodiscard]] bool local() const { return !ssh && exec.empty(); }
};

/// `settings:`: plan-wide options that are not scenario parameters.
struct plan_settings {
    std::string known_hosts;
    std::string ssh_config; ///< `ssh_config:` file; empty: ~/.ssh/config and /etc/ssh/ssh_config
    std::chrono::milliseconds connect_timeout{5000};
    on_error when_failed = on_error::continue_run;
};

/// One scalar parameter as set in a scenario, `defaults:` or a matrix axis.
struct setting {
    param key = param::traffic;
    param_value value;
    std::string text; ///< as written, for instance ids
    source_loc loc;
};

/// One `matrix:` key and its values, in the order written.
struct matrix_axis {
    param key = param::traffic;
    source_loc loc;
    std::vector<setting> values;
    std::string member; ///< a group's `up.flows:` axis varies member "up" only; empty: every member
};

/// One entry of a matrix's `include:` (an extra combination, its values tied together) or
/// `exclude:` (combinations to drop: those with all of these axis values).
struct matrix_entry {
    source_loc loc;
    std::vector<setting> values; ///< in the order written
};

/// `placement:` per side, plus distinct_rx.
struct placement_spec {
    std::optional<located<engine::placement_rule>> client, server;
    std::optional<located<bool>> distinct_rx;
    std::optional<located<engine::placement_rule>> via; ///< the forwarders' workers (`via:` hosts)
    source_loc loc;
};

/// A scenario as written (also used for `defaults:`, which has no name and no matrix).
struct scenario {
    std::string name;
    source_loc loc;
    std::vector<setting> settings; ///< in the order written
    std::vector<matrix_axis> matrix;
    std::vector<matrix_entry> include, exclude; ///< the matrix's `include:` and `exclude:`
    std::optional<placement_spec> placement;
    std::optional<located<until_rule>> until; ///< until_rule: runner/plan/until.hpp
    std::vector<expectation> expect;
    std::vector<gate_entry> gate; ///< `gate:`, compare's tolerances (runner/plan/gate.hpp)
    std::optional<located<std::vector<located<std::string>>>> via; ///< `via:` proxy hosts, client side first
    std::optional<located<bool>> compare_direct;                   ///< also run without the proxies
    std::optional<search_rule> search;                             ///< `search:` (not in defaults)
    /// A group: members that start together on their hosts and share one measurement window.
    /// `group:` lists them as written; `clients:`, `mesh:` and `pairs:` are generated into this
    /// list by the loader (one member per client host, per ordered pair, per pair). The group's
    /// own settings and placement are its members' defaults.
    std::vector<scenario> members;
    std::optional<located<bool>> compare_idle; ///< also run each latency member alone
    [[nodiscard]] bool is_group() const { return !members.empty(); }
    /// The setting for `p` written here, if any.
    [[nodiscard]] const setting* find(param p) const;
};

/// One host's part of a setup (`setups: NAME: hosts: HOST: {...}`), each list in the order
/// written: applied in that order (sysctl, then irq_affinity, then run), restored in reverse.
struct setup_host {
    std::string host;
    source_loc loc;
    std::vector<std::pair<std::string, std::string>> sysctl;       ///< name -> value
    std::vector<std::pair<std::string, std::string>> irq_affinity; ///< interface -> CPU list
    std::vector<std::string> run, undo;                            ///< shell commands
};

/// A named host configuration (`setups:`), chosen per scenario by the `setup` parameter.
/// `default: {}` (no hosts) changes nothing.
struct setup_def {
    std::string name;
    source_loc loc;
    std::vector<setup_host> hosts; ///< in the order written
};

/// A whole plan file.
struct plan {
    std::string file;   ///< the name it was loaded under, for messages
    std::string source; ///< the text, for diagnostics and the report (and its hash)
    std::string name;   ///< `name:`; default: the file's stem
    std::vector<host> hosts;
    std::vector<setup_def> setups; ///< `setups:`, in the order written
    scenario defaults;
    std::vector<scenario> scenarios;
    plan_settings settings;
    /// `--set KEY=VALUE` from the command line: above everything the plan says, applied where
    /// they can (as `defaults:`); `override_text` keeps them as written, for the results.
    std::vector<setting> overrides;
    std::vector<std::string> override_text;
    /// The host called `name`, or nullptr.
    [[nodiscard]] const host* find_host(std::string_view name) const;
    /// The setup called `name`, or nullptr.
    [[nodiscard]] const setup_def* find_setup(std::string_view name) const;
    /// `file:line:col: message` with the source line and caret, for errors found later
    /// (e.g. a placement rule that cannot hold on a host).
    [[nodiscard]] std::string diagnose(source_loc loc, std::string message) const;
};

/// Why a plan did not load: every error found (up to the cap), and the formatted text.
struct load_failure {
    std::vector<diagnostic> diagnostics;
    std::size_t dropped = 0;
    std::string text; ///< ready to print: each error with its source line and caret
};

/// Files larger than this are refused before parsing.
inline constexpr std::size_t max_plan_bytes = 1 << 20;

/// Parses and checks plan `text`; `file` names it in messages. Never touches the disk.
/// `overrides` are `--set KEY=VALUE` items: each checked exactly like plan text, an error
/// reading "--set duration=1: duration: ...".
[[nodiscard]] std::expected<plan, load_failure> load_plan(std::string_view file, std::string_view text,
                                                          const std::vector<std::string>& overrides = {});
/// Reads `path` (refusing files over max_plan_bytes) and loads it.
[[nodiscard]] std::expected<plan, load_failure> load_plan_file(const std::string& path,
                                                               const std::vector<std::string>& overrides = {});

} // namespace kp::runner
