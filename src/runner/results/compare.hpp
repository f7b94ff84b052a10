#pragma once
/// `kperf-plan compare BASE NEW`: instance by instance, metric by metric.
///
/// Against one BASE run a regression is a change beyond the metric's tolerance in the bad
/// direction AND outside the confidence intervals (the intervals do not overlap). Against a
/// calibrated baseline (runner/results/calibrate.hpp: several BASE runs, or a `baseline`
/// directory) the base is the runs' median and a regression is a change beyond both the
/// tolerance and the instance's noise floor for that metric; metrics too noisy on that machine
/// are listed and not gated. Tolerances come from `--tolerance` above the instance's `gate:`
/// (recorded in NEW's results) above the defaults; an explicit one gates its metric.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "runner/plan/gate.hpp"
#include "runner/results/metrics.hpp"

namespace kp::runner {

struct calibration; // runner/results/calibrate.hpp

/// Tolerances per metric (nullopt: off); metrics absent here use the instance's gate, then the
/// default.
using tolerance_map = gate_map;

/// Parses `--tolerance metric=5%` (or `metric=off`) items; the error is a usage error.
[[nodiscard]] result<tolerance_map> parse_tolerances(const std::vector<std::string>& items);

/// The outcome for one metric of one instance.
enum class verdict : std::uint8_t {
    same,
    noise,       ///< beyond the tolerance, but within the CIs or the noise floor
    regression,
    improvement,
    too_noisy,   ///< calibrated: the floor is above the metric's limit, so it is not gated
    unconfirmed, ///< regressed, but a confirmation rerun (run --confirm) did not
};

/// One compared metric.
struct metric_delta {
    std::string instance;
    metric which = metric::throughput_bps;
    double base = 0, fresh = 0;
    double change = 0; ///< (fresh - base) / |base|
    double tolerance = 0;
    std::optional<double> floor; ///< calibrated: the noise floor (relative)
    std::optional<std::pair<double, double>> base_ci, fresh_ci;
    std::string unit; ///< as NEW's results.json records it (service demand's depends on the kind)
    verdict outcome = verdict::same;
};

/// One rerun of the regressed instances (run --baseline B --confirm N).
struct confirmation_attempt {
    int attempt = 0;                   ///< 1, 2, ...
    std::vector<std::string> ids;      ///< the instances rerun
    std::vector<std::string> persists; ///< those that regressed again
    std::vector<metric_delta> rows;    ///< the rerun's comparison rows of those instances
    nlohmann::json instances = nlohmann::json::array(); ///< the rerun's instance records
};

/// The comparison of two results documents.
struct comparison_report {
    std::vector<metric_delta> rows;
    std::vector<std::string> missing_in_base, missing_in_fresh; ///< instance ids
    std::vector<std::string> not_comparable;                    ///< "id: failed in NEW", ...
    std::vector<std::string> matched;                           ///< ids on both sides
    std::size_t calibrated_runs = 0;                            ///< 0: BASE is one run
    std::vector<std::string> host_changes; ///< calibrated hosts whose facts differ in NEW
    std::vector<confirmation_attempt> confirmations;
    [[nodiscard]] bool regressed() const;
    /// The instances with a row that regressed, in row order, each once.
    [[nodiscard]] std::vector<std::string> regressed_instances() const;
};

/// One confirmation rerun: a row of `report` that regressed stays a regression only when the
/// same metric of the same instance regressed in `rerun` too, else it becomes unconfirmed. `a`
/// (its attempt number and the rerun's records) is kept in report.confirmations, with the ids
/// rerun, the rerun's rows of them and the instances that still regress.
void confirm_with(comparison_report& report, const comparison_report& rerun, confirmation_attempt a);

/// Loads a results.json, a results.jsonl or a directory holding one of them.
[[nodiscard]] result<nlohmann::json> load_results(const std::string& path);

/// Every instance of a results document by id, a group's members as instances of their own.
[[nodiscard]] std::map<std::string, const nlohmann::json*> instances_by_id(const nlohmann::json& doc);
/// "a, b, c".
[[nodiscard]] std::string join_ids(const std::vector<std::string>& ids);
/// An instance's aggregate value of `m` and its unit, if it has one.
[[nodiscard]] std::optional<std::pair<double, std::string>> metric_value(const nlohmann::json& instance,
                                                                         metric m);

/// Compares two results documents (as results.json; instances[] is what is read). With `cal`,
/// BASE is the calibration's medians and floors (`base` is then only read for its ids).
[[nodiscard]] comparison_report compare_results(const nlohmann::json& base, const nlohmann::json& fresh,
                                                const tolerance_map& tolerances,
                                                const calibration* cal = nullptr);

/// "no instance is in both: BASE has a, b; NEW has c" when nothing matched, else nullopt.
[[nodiscard]] std::optional<std::string> nothing_matched(const nlohmann::json& base,
                                                         const nlohmann::json& fresh);

/// The table compare prints.
[[nodiscard]] std::string format_comparison(const comparison_report& r);
/// The comparison as JSON (results.json "baseline" with --baseline).
[[nodiscard]] nlohmann::json comparison_json(const comparison_report& r);
[[nodiscard]] nlohmann::json delta_json(const metric_delta& d);

/// A baseline to compare with: one results document, or a calibration (a `baseline` directory,
/// or several runs calibrated here).
struct baseline_source {
    nlohmann::json doc;                        ///< the first (or only) run, for ids and hosts
    std::shared_ptr<const calibration> cal;    ///< set when calibrated
};
/// Loads `paths`: one results file or directory, a baseline directory (baseline.json), or
/// at least min_calibration_runs results to calibrate on.
[[nodiscard]] result<baseline_source> load_baseline(const std::vector<std::string>& paths);

/// Runs `compare BASE... NEW`; exit code 0, 1 on a regression, 2 on bad usage, an unreadable
/// file or no instance in common.
int compare_main(const std::vector<std::string>& bases, const std::string& fresh,
                 const std::vector<std::string>& tolerances);

} // namespace kp::runner
