#pragma once
/// The table printed at the end of a run: one row per instance with its headline figures and
/// pass/FAIL, then every failed check and failure reason.
#include <string>

#include "runner/results/record.hpp"

namespace kp::runner {

/// The summary table, ready to print.
[[nodiscard]] std::string summary_table(const run_record& run);

} // namespace kp::runner
