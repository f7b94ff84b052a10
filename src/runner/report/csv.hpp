#pragma once
/// results.csv: one row per instance (aggregate), or with --csv-repeats one row per repeat.
/// The column list lives here only; docs/results.md documents it and a test checks they agree.
#include <string>
#include <string_view>
#include <vector>

#include "runner/results/record.hpp"

namespace kp::runner {

/// Which rows results.csv holds.
enum class csv_rows : std::uint8_t { aggregate, repeats };

/// The header columns, in order. Stable: scripts read them by name.
[[nodiscard]] const std::vector<std::string>& csv_columns(csv_rows rows);

/// The whole CSV text (header and rows, "\n" line ends, RFC 4180 quoting).
[[nodiscard]] std::string csv_text(const run_record& run, csv_rows rows);

/// results-samples.csv: the per-second time series, one row per instance (group members too),
/// repeat, side and second of the window. Columns: samples_csv_columns.
[[nodiscard]] std::string samples_csv_text(const run_record& run);
inline constexpr std::string_view samples_csv_columns =
    "plan,instance,repeat,side,second,t,bytes,transactions,throughput_bps,transactions_per_s,latency_p50_us,"
    "latency_p99_us";

/// Quotes a field when it holds a comma, a quote or a line break.
[[nodiscard]] std::string csv_field(std::string_view s);

} // namespace kp::runner
