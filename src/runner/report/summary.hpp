#pragma once
/// The table printed at the end of a run: one row per instance with its headline figures and
/// pass/FAIL, then every failed check and failure reason.
#include <string>

#include "runner/results/record.hpp"

namespace kp::runner {

/// The summary table, ready to print.
[[nodiscard]] std::string summary_table(const run_record& run);
/// The table's cpu cell: "0.41/0.39" (client/server busy CPU seconds).
[[nodiscard]] std::string cpu_cell(double client_cpu_s, double server_cpu_s);
/// The table's result cell: "pass", "FAIL", "ERROR", "INTERRUPTED", "skipped".
[[nodiscard]] const char* outcome_word(instance_status status);

} // namespace kp::runner
