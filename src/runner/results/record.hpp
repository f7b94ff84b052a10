#pragma once
/// What a run records, independent of any file format: the run header, the hosts, and per
/// instance its repeats, aggregate, expectation checks and failure. runner/report/json.hpp writes it.
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"
#include "runner/plan/expect.hpp"
#include "runner/results/aggregate.hpp"
#include "runner/results/compare.hpp"
#include "runner/results/proxy_record.hpp"
#include "runner/results/search_record.hpp"

namespace kp::runner {

/// Why an instance failed: which host, which step (e.g. "listen", "wait"), which error.
struct failure_reason {
    std::string host;
    std::string step;
    std::string error;
    bool interrupted = false; ///< stopped by an interrupt (SIGINT/SIGTERM), not by a fault
    bool host_lost = false;   ///< the host's agent died or stopped answering: declare the host dead
};

/// The failure of an instance that signal `sig` (SIGINT, SIGTERM; 0: not known) stopped at `step`;
/// no host failed, so it names none: {"", "wait", "interrupted (SIGINT)"}.
[[nodiscard]] failure_reason interrupted_at(std::string step, int sig);

/// A failure as people read it, the same in every report: "host b: establish rr#0/server: ..."
/// or, when no host failed, "wait: interrupted (SIGINT)".
[[nodiscard]] std::string describe(const failure_reason& f);

/// One run of one instance.
struct repeat_record {
    std::size_t index = 0;
    metric_values metrics{};
    engine::side_result client, server;
    std::vector<engine::side_result> hops; ///< `via:` forwarders, client side first (relay set)
    /// The window both sides measured in (max of starts, min of ends), runner clock, ns.
    std::int64_t shared_start_ns = 0, shared_end_ns = 0;
    /// Each host's clock minus the runner's, estimated NTP style just before the start, ns.
    std::map<std::string, std::int64_t> clock_offset_ns;
    /// How far each host's offset may be off: half the best round trip of the estimate, ns.
    std::map<std::string, std::int64_t> clock_uncertainty_ns;
};

/// One `expect:` check and its outcome on the aggregate.
struct check_result {
    std::string metric; ///< the plan's metric name
    comparison op = comparison::lt;
    double bound = 0;               ///< in the metric's unit (info(metric).unit)
    std::string text;               ///< as written in the plan, e.g. "< 800us"
    std::optional<double> measured; ///< absent: the metric was not measured
    std::optional<std::pair<double, double>> ci;
    bool passed = false;
};

/// How an instance ended.
enum class instance_status : std::uint8_t { ok, expect_failed, failed, interrupted, skipped };
/// Every instance_status, in order (results.json counts each in its summary).
inline constexpr instance_status all_instance_statuses[] = {
    instance_status::ok, instance_status::expect_failed, instance_status::failed,
    instance_status::interrupted, instance_status::skipped};
static_assert(std::size(all_instance_statuses) == static_cast<std::size_t>(instance_status::skipped) + 1);

/// A host's CPU in one group repeat, measured once over the shared window however many members
/// it serves (a member's own client_cpu_s/server_cpu_s would count it again per member).
struct group_host_cpu {
    std::string host;
    engine::cpu_time cpu;             ///< all the host's CPUs over the window (busy() is the figure)
    std::size_t cpus = 0;             ///< CPUs counted
    std::vector<std::string> members; ///< the members it serves ("up (server)")
};

/// What one repeat of a group records beside its members' own repeats.
struct group_repeat {
    std::size_t index = 0;
    /// The intersection of every member's window over the planned duration (1: all members
    /// measured the whole duration together).
    double overlap = 0;
    std::size_t late_starts = 0;       ///< sides whose start was answered only after the instant
    std::vector<group_host_cpu> hosts; ///< in plan host order
};

struct instance_record;

/// `compare_idle`: a latency member run alone after each group repeat, and how much latency
/// grew under the group's load (loaded minus idle, µs).
struct idle_record {
    std::string member;
    std::vector<repeat_record> repeats;
    instance_aggregate aggregate;
    std::optional<double> p50_inflation_us, p99_inflation_us;
};

/// What a group records beside its members.
struct group_record {
    std::vector<group_repeat> repeats;
    std::vector<idle_record> idle;
};

/// A value a setup changed on a host: a sysctl, or one IRQ (`irq`) of interface `name`.
struct setup_value {
    std::string name;
    std::uint32_t irq = 0;
    std::string before, after;
};

/// A command a setup ran, its exit code and the first bytes of its output.
struct setup_command_record {
    std::string command;
    int exit_code = 0;
    std::string stdout_text, stderr_text;
};

/// What a setup applied on one host (remote/setup.hpp).
struct setup_host_record {
    std::string host;
    std::vector<setup_value> sysctl, irqs;
    std::vector<setup_command_record> commands;
};

/// The setup that held during an instance (`setup:`), host by host in plan order; a setup
/// shared with the instance before it was applied once, and is recorded in each.
struct setup_record {
    std::string name;
    std::vector<setup_host_record> hosts;
};

/// Everything recorded about one instance.
struct instance_record {
    std::string id;
    std::string scenario;
    engine::traffic kind = engine::traffic::tcp_stream;
    std::vector<std::pair<std::string, std::string>> parameters; ///< matrix values, in plan order
    /// `gate:` as the plan set it: metric name -> "5%" or "off" (compare reads it from NEW).
    std::vector<std::pair<std::string, std::string>> gate;
    std::string client_host, server_host;
    engine::job_spec client_job, server_job;
    instance_status status = instance_status::ok;
    std::optional<failure_reason> failure;
    std::vector<repeat_record> repeats;
    instance_aggregate aggregate;
    std::vector<check_result> checks;
    /// What does not fail the instance but qualifies its figures, e.g. a client that could not
    /// send on schedule.
    std::vector<std::string> warnings;
    double elapsed_s = 0;                ///< wall time the instance took
    std::vector<hop_record> hops;        ///< `via:` instances: per proxy hop, client side first
    std::optional<direct_record> direct; ///< `compare_direct: true`: the direct run and the added cost
    std::optional<search_record> search; ///< `search:` instances: every probe and the peak
    /// A group: its members' records (each as an instance's, id "<group id>/<member>"; their CPU
    /// metrics are left out, see group->repeats[].hosts), and the group's own figures: `repeats`
    /// and `aggregate` hold the group metrics (runner/plan/expand.hpp group_measures), and
    /// repeats[].client.latency the latency merged over its latency members.
    std::vector<instance_record> members;
    std::optional<group_record> group;
    std::string member;                ///< a member's name in its group
    std::optional<setup_record> setup; ///< `setup:` instances (a group's, not its members')
    [[nodiscard]] bool is_group() const { return group.has_value(); }
    /// The kind whose units its figures are in (service demand's); a group has none of its own.
    [[nodiscard]] std::optional<engine::traffic> traffic_kind() const {
        return is_group() ? std::nullopt : std::optional(kind);
    }
};

/// How the agent binary came to be on a host.
struct deploy_record {
    std::string method; ///< "sftp" or "exec" (uploaded that way), "cached" (verified copy) or "agent_path"
    bool uploaded = false;
    std::string path;   ///< the binary that runs as the agent
    std::string sha256; ///< empty with agent_path
};

/// One host of the plan as the run found it.
struct host_record {
    std::string name;
    std::string transport;               ///< "local", "ssh root@198.18.0.2:22" or "exec ip netns exec ns1"
    std::optional<deploy_record> deploy; ///< empty for local hosts and hosts that failed before it
    std::string address;                 ///< the data-plane address (`address: auto` resolved)
    nlohmann::json capabilities;         ///< the agent's hello
    nlohmann::json environment;          ///< the environment manifest
    std::optional<failure_reason> failure;
};

/// The state of the run as a whole; results.json says it as text (to_string).
enum class run_status : std::uint8_t { running, complete, interrupted, aborted };

/// The run as a whole.
struct run_record {
    std::string plan_name, plan_file, plan_text, plan_sha256;
    nlohmann::json plan; ///< the plan as data (as the plan model serializes it)
    std::string tool_version;
    std::vector<std::string> command_line;
    std::string started_at, finished_at; ///< UTC, ISO 8601
    run_status status = run_status::running;
    std::vector<host_record> hosts;
    std::vector<instance_record> instances;
    std::optional<comparison_report> baseline; ///< the --baseline comparison, when asked
    std::optional<int> exit_code;              ///< absent (null in results.json) until the run ends
    /// The runner itself: how long starting every agent took, and its peak resident memory so
    /// far (getrusage ru_maxrss), so that scale is visible in every run.
    double agents_setup_s = 0;
    long max_rss_kib = 0;
};

/// Stable names of enums in reports.
[[nodiscard]] const char* to_string(instance_status s);
[[nodiscard]] const char* to_string(run_status s);

} // namespace kp::runner
