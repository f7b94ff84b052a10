#pragma once
/// Strict parsers and printers for the units a plan uses: sizes, durations, rates, percentages.
/// Every parse error says what was expected, so the plan loader can pass it on verbatim.
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace kp::runner {

/// A parse result: the value, or a message saying what was expected.
template <class T> using parsed = std::expected<T, std::string>;

/// A rate as written: unlimited, messages per second, or bits per second.
struct rate {
    enum class unit : std::uint8_t { unlimited, per_second, bits_per_second };
    unit how = unit::unlimited;
    double value = 0; ///< per second, in `how`'s unit
    friend bool operator==(const rate&, const rate&) = default;
};

/// `64`, `4KiB`, `1MiB`, `1GiB`, `1kB`, `1MB`, `1GB` -> bytes.
[[nodiscard]] parsed<std::uint64_t> parse_size(std::string_view text);
/// `500ns`, `10us`, `500ms`, `10s`, `2m`, `1h` (decimals allowed) -> nanoseconds. A unit is required.
[[nodiscard]] parsed<std::chrono::nanoseconds> parse_duration(std::string_view text);
/// `unlimited`, `20k/s`, `2M/s`, `10Gbit/s`, `500Mbit/s`, `100kbit/s`.
[[nodiscard]] parsed<rate> parse_rate(std::string_view text);
/// A bit rate only: `10Gbit/s` -> bits/s.
[[nodiscard]] parsed<double> parse_bit_rate(std::string_view text);
/// A plain non-negative integer, `1` .. `max`.
[[nodiscard]] parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t max);
/// `2%` -> 0.02 (a percent sign is required).
[[nodiscard]] parsed<double> parse_percent(std::string_view text);
/// A plain decimal number such as `20000`, `0.5` or `1e6`.
[[nodiscard]] parsed<double> parse_number(std::string_view text);

/// A size written in a decimal unit ("64KB" = 64000 bytes) shown in bytes beside the binary
/// one it is easily taken for: "64KB = 64000 B (64KiB would be 65536 B)"; nullopt for any
/// other text, such as "64KiB" or "4096".
[[nodiscard]] std::optional<std::string> decimal_size_note(std::string_view text);
/// 65536 -> "64KiB", 100 -> "100".
[[nodiscard]] std::string format_size(std::uint64_t bytes);
/// 2s -> "2s", 1500ms -> "1500ms".
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds d);
/// "unlimited", "20k/s", "10Gbit/s".
[[nodiscard]] std::string format_rate(const rate& r);

} // namespace kp::runner
