#pragma once
/// Calibration: the run-to-run noise of a plan on the machine that will gate it. The interval
/// built from the repeats inside one run cannot see variation between runs (a run that started
/// while the machine was idle is an outlier as a whole), so `kperf-plan baseline PLAN --runs N`
/// runs the plan N times and keeps, per instance and metric, the median of the runs and the
/// smallest change that can be told from noise. `compare` then gates only changes larger than
/// both the tolerance and that floor, and says which metrics are too noisy to gate here.
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "runner/plan/metric.hpp"

namespace kp::runner {

/// The noise of one metric of one instance over the calibration runs.
struct metric_noise {
    std::vector<double> values; ///< one per run that measured it, in run order
    double median = 0;          ///< compare's base value
    /// The smallest relative change told from noise: a 99% prediction interval for one more run,
    /// on the log scale (see noise_floor), and never below the largest deviation seen.
    double floor = 0;
    bool too_noisy = false; ///< floor above noise_limit(): not gated unless a tolerance says so
    std::string unit;       ///< as the runs' results.json records it
};

/// What a baseline directory's baseline.json holds.
struct calibration {
    std::size_t runs = 0;
    std::vector<std::string> run_dirs;                                ///< relative to the baseline dir
    std::map<std::string, std::map<metric, metric_noise>> instances; ///< by instance id
    std::map<std::string, std::string> traffic;                      ///< by instance id, e.g. "tcp_rr"
    nlohmann::json hosts = nlohmann::json::object(); ///< host name -> manifest (host_manifests)
};

/// The fewest runs a calibration accepts: with two, the t quantile (63.7) swamps every floor.
inline constexpr std::size_t min_calibration_runs = 3;

/// The relative noise floor of `values` (one per run): t(0.995, n-1) * sd * sqrt(1 + 1/n) on
/// ln(value), mapped back (exp(x) - 1), and at least the largest |ln(v / median)| seen. Values
/// that are not all positive use the same on v / |median| - 1. 0 when n < 2 or the median is 0.
[[nodiscard]] double noise_floor(std::span<const double> values);

/// Above this floor a metric is too noisy to gate by default: twice its default tolerance
/// (rates 20%, latency 50%), or 50% for a metric with none.
[[nodiscard]] double noise_limit(metric m);

/// compare's default tolerance against a calibrated baseline: half the uncalibrated one (rates
/// 5%, latency 12.5%), since the floor now does the work the wide default stood in for: a 10%
/// drop is a coin flip against a 10% tolerance.
[[nodiscard]] double calibrated_tolerance(double uncalibrated);

/// Calibrates on the results documents of N runs of one plan (results.json each).
[[nodiscard]] calibration calibrate(std::span<const nlohmann::json> runs);

/// The facts of each host that decide whether figures carry over: hostname, kernel, CPU model
/// and count, governor and the sysctls recorded (results.json hosts[].environment).
[[nodiscard]] nlohmann::json host_manifests(const nlohmann::json& results);
/// One line per fact of `calibrated` (host_manifests) that `fresh` (a results document) does
/// not share, e.g. "host srv: kernel: 6.1.0 (baseline) -> 6.18.4"; empty when they agree.
[[nodiscard]] std::vector<std::string> manifest_differences(const nlohmann::json& calibrated,
                                                            const nlohmann::json& fresh);

[[nodiscard]] nlohmann::json calibration_json(const calibration& c);
[[nodiscard]] result<calibration> calibration_from_json(const nlohmann::json& doc);

/// A floor as a percentage with one decimal, ">1000%" beyond that.
[[nodiscard]] std::string floor_text(double floor);

/// The noise table `baseline` prints: per instance and gated metric, median, floor, verdict.
[[nodiscard]] std::string format_calibration(const calibration& c);

} // namespace kp::runner
