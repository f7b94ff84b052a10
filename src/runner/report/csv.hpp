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

/// Quotes a field when it holds a comma, a quote or a line break.
[[nodiscard]] std::string csv_field(std::string_view s);

} // namespace kp::runner
