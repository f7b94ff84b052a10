#pragma once
/// `kperf-plan report RESULTS [--baseline BASE] [-o FILE]`: the HTML report of a results file.
#include <string>

namespace kp::runner {

/// Writes the page of RESULTS (a results.json, a results.jsonl or a results directory), with the
/// comparison against BASE when given, to `output` (default: report.html beside the results).
/// Exit code 0, or 2 when a file cannot be read or written.
int report_main(const std::string& results, const std::string& baseline, const std::string& output);

} // namespace kp::runner
