#pragma once
/// Matrix expansion: every scenario becomes one instance per point of its matrix (a cartesian
/// product, keys in the order written), with a stable id such as `rpc/in_flight=128,flows=8`
/// and the engine job fully resolved from built-in defaults, `defaults:`, the scenario and the
/// matrix point, in that order.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/job.hpp"
#include "runner/plan/metric.hpp"
#include "runner/plan/plan.hpp"

namespace kp::runner {

/// Which side of an instance.
enum class side : std::uint8_t { client, server };

/// One runnable scenario instance.
struct instance {
    std::string id;       ///< "rpc/in_flight=128,flows=8", or the scenario name without a matrix
    std::string scenario; ///< the scenario's name
    source_loc loc;       ///< where the scenario is written
    /// The matrix values of this instance (name -> value as written), in the order written.
    std::vector<std::pair<std::string, std::string>> matrix;
    /// Every parameter that applies to the traffic kind (name -> printable value), table order.
    std::vector<std::pair<std::string, std::string>> params;
    std::string client; ///< host name (plan::find_host)
    std::string server;
    engine::job_spec job; ///< shared by both sides; job.placement is `any`, see for_side()
    engine::placement_rule client_placement, server_placement;
    source_loc client_placement_loc, server_placement_loc; ///< for check_placement errors
    source_loc distinct_rx_loc; ///< `distinct_rx:` as written, for check_placements errors
    std::uint32_t repeat = 1;
    std::optional<until_rule> until; ///< min_repeat is max(2, repeat)
    std::vector<expectation> expect;
    std::vector<gate_entry> gate;         ///< `gate:`, defaults' then the scenario's (a member: over its group's)
    std::optional<search_rule> search;    ///< rates resolved to messages/s; runner/orchestrate/search.hpp
    std::vector<std::string> via;         ///< proxy hosts, client side first (`via:`)
    engine::placement_rule via_placement; ///< the forwarders' rule (`placement: {via: ...}`)
    source_loc via_placement_loc;
    bool compare_direct = false; ///< run each repeat once more without the proxies
    on_error when_failed = on_error::continue_run;
    /// `setup:`, a name in plan::setups applied around the instance; empty: none. A group's
    /// applies to every host its setup names, for all its members at once.
    std::string setup;
    /// A group (plan.hpp scenario::members): its members, each a whole instance with the id
    /// "<group id>/<member>", one client and one server, and the group's warm-up and duration.
    /// The group itself has no client, server or kind of its own (job.kind is its first
    /// member's); its repeat, until, expect and when_failed apply to the whole group.
    std::vector<instance> members;
    std::string member;        ///< a member's name in its group; empty: not a member
    bool compare_idle = false; ///< also run each latency member alone, after each group repeat
    [[nodiscard]] bool is_group() const { return !members.empty(); }

    /// The job one side runs: `job` with that side's placement rule.
    [[nodiscard]] engine::job_spec for_side(side s) const;
    /// The job a forwarder runs: `job` with the via placement rule.
    [[nodiscard]] engine::job_spec for_via() const;
};

/// Every instance that runs between one client and one server: `instances` in order, a group
/// replaced by its members. What needs agents, probes and placement checks.
[[nodiscard]] std::vector<const instance*> pair_instances(const std::vector<instance>& instances);

/// All instances of a loaded plan, scenarios in order, matrix points in order.
[[nodiscard]] std::vector<instance> expand(const plan& p);

/// Expansion that reports every problem (undefined hosts, parameters that do not apply, ...)
/// into `diags`; load_plan() runs it so that expand() of a loaded plan cannot fail.
std::vector<instance> expand_checked(const plan& p, diagnostics& diags);

/// True when group `g` reports `m` as a group figure: throughput and fairness always; rates,
/// loss and retransmits when a member measures them; latency when its latency members are of
/// one kind (their histograms merge); CPU figures never (they are per host).
[[nodiscard]] bool group_measures(const instance& g, metric m);

/// Members beyond this many in one group make a plan invalid.
inline constexpr std::size_t max_group_members = 256;

/// Instances beyond this many make a plan invalid (a matrix typo should not mean a week of runs).
inline constexpr std::size_t max_instances = 10000;

} // namespace kp::runner
