#pragma once
/// Numbers for people: durations, rates, sizes and counts in the unit that fits, with 3
/// significant digits ("49.9 ms", "10.0k tx/s", "9.41 Gbit/s", "64.0 KiB"; a plain number from
/// 1000 to 9999 keeps its 4 digits: "7500/s"). Every line a person reads (summary, FAIL
/// messages, progress, compare, dry run, search) prints its figures through these; JSON and CSV
/// keep the raw numbers. Plan syntax, which must read back as written, is units.hpp's format_*.
#include <optional>
#include <string>
#include <string_view>

#include "engine/traffic/traffic.hpp"
#include "runner/plan/metric.hpp"

namespace kp::runner {

/// A number with an SI prefix (k, M, G, T) from 10000 up: 9999.6 -> "10.0k", 9.41e9 -> "9.41G",
/// 1234.4 -> "1234", 0.5 -> "0.500", 0 -> "0", -12.34 -> "-12.3".
[[nodiscard]] std::string human_number(double v);
/// A whole count: exact below 10000 ("17", "9999"), else as human_number ("12.3k").
[[nodiscard]] std::string human_count(double n);
/// A duration in ns, us, ms or s: "850 ns", "48.8 us", "49.9 ms", "1.50 s"; 0 -> "0 ns".
[[nodiscard]] std::string human_ns(double ns);
/// human_ns of a duration given in microseconds (latency metrics): 49'900 -> "49.9 ms".
[[nodiscard]] std::string human_us(double us);
/// human_ns of a duration given in seconds (CPU time): 0.41 -> "410 ms".
[[nodiscard]] std::string human_seconds(double s);
/// A rate of `what` per second: (1e4, "tx") -> "10.0k tx/s", (36'000, "") -> "36.0k/s".
[[nodiscard]] std::string human_rate(double per_s, std::string_view what = {});
/// A bit rate, the prefix on the unit: "9.41 Gbit/s", "500 bit/s".
[[nodiscard]] std::string human_bit_rate(double bits_per_s);
/// Bytes in B, KiB, MiB, GiB or TiB (the plan's binary units): "512 B", "64.0 KiB", "1.50 MiB".
[[nodiscard]] std::string human_size(double bytes);
/// A ratio as a percentage: 0.00123 -> "0.123%".
[[nodiscard]] std::string human_percent(double ratio);
/// `text` (a figure of value `v`) with an explicit "+" when v is positive, for deltas: "+1.20 ms".
[[nodiscard]] std::string plus_sign(double v, std::string text);

/// Service demand in `unit` (unit_of, as results.json records it), as CPU time per unit of
/// work: (12.3, "us/transaction") -> "12.3 us/transaction", (0.512, "s/GB") -> "512 ms/GB"; any
/// other unit (none known) gives a bare number.
[[nodiscard]] std::string human_demand(double v, std::string_view unit);

/// A metric's value as people read it, in the unit of a `kind` instance: "49.9 ms",
/// "10.0k tx/s", "0.120%", "12.3 us/transaction", "512 ms/GB". Without a kind, service demand
/// has no unit and is a bare number.
[[nodiscard]] std::string human_metric(metric m, double v, std::optional<engine::traffic> kind);
/// The same from a metric's unit as results.json records it (unit_of), for `compare`.
[[nodiscard]] std::string human_metric(metric m, double v, std::string_view unit);

} // namespace kp::runner
