#pragma once
/// `kperf-plan compare BASE NEW`: instance by instance, metric by metric. A regression is a
/// change beyond the metric's tolerance in the bad direction AND outside the confidence
/// intervals (the intervals do not overlap), so noise is not reported as a regression.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "runner/results/metrics.hpp"

namespace kp::runner {

/// Relative tolerances per metric; metrics absent here use info(metric).tolerance.
using tolerance_map = std::map<metric, double>;

/// Parses `--tolerance metric=5%` items (or `metric=0.05`); the error is a usage error.
[[nodiscard]] result<tolerance_map> parse_tolerances(const std::vector<std::string>& items);

/// The outcome for one metric of one instance.
enum class verdict : std::uint8_t { same, noise, regression, improvement };

/// One compared metric.
struct metric_delta {
    std::string instance;
    metric which = metric::throughput_bps;
    double base = 0, fresh = 0;
    double change = 0; ///< (fresh - base) / |base|
    double tolerance = 0;
    std::optional<std::pair<double, double>> base_ci, fresh_ci;
    std::string unit; ///< as NEW's results.json records it (service demand's depends on the kind)
    verdict outcome = verdict::same;
};

/// The comparison of two results documents.
struct comparison_report {
    std::vector<metric_delta> rows;
    std::vector<std::string> missing_in_base, missing_in_fresh; ///< instance ids
    std::vector<std::string> not_comparable;                    ///< "id: failed in NEW", ...
    [[nodiscard]] bool regressed() const;
};

/// Loads a results.json, a results.jsonl or a directory holding one of them.
[[nodiscard]] result<nlohmann::json> load_results(const std::string& path);

/// Compares two results documents (as results.json; instances[] is what is read).
[[nodiscard]] comparison_report compare_results(const nlohmann::json& base, const nlohmann::json& fresh,
                                                const tolerance_map& tolerances);

/// The table compare prints.
[[nodiscard]] std::string format_comparison(const comparison_report& r);
/// The comparison as JSON (results.json "baseline" with --baseline).
[[nodiscard]] nlohmann::json comparison_json(const comparison_report& r);

/// Runs `compare`; exit code 0, 1 on a regression, 2 on bad usage or an unreadable file.
int compare_main(const std::string& base, const std::string& fresh,
                 const std::vector<std::string>& tolerances);

} // namespace kp::runner
