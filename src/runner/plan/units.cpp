#include "runner/plan/units.hpp"

#include <charconv>
#include <cmath>
#include <fmt/format.h>
#include <optional>

namespace kp::runner {
namespace {

constexpr std::string_view size_help = "a size such as 64, 4KiB, 1MiB or 1MB";
constexpr std::string_view duration_help =
    "a duration with a unit (ns, us, ms, s, m, h) such as 500ms, 10s or 2m";
constexpr std::string_view rate_help = "a rate such as unlimited, 20k/s, 2M/s, 500Mbit/s or 10Gbit/s";
constexpr std::string_view bit_rate_help = "a bit rate such as 500Mbit/s or 10Gbit/s";

std::string expected_got(std::string_view what, std::string_view text) {
    return fmt::format("expected {}, got '{}'", what, text);
}

/// Splits "12.5ms" into the number 12.5 and the suffix "ms"; nullopt without a leading number.
struct number_and_suffix {
    double number;
    std::string_view suffix;
    bool integral;
};
std::optional<number_and_suffix> split_number(std::string_view text) {
    std::size_t end = 0;
    bool dot = false;
    while (end < text.size() && ((text[end] >= '0' && text[end] <= '9') || (text[end] == '.' && !dot))) {
        dot = dot || text[end] == '.';
        ++end;
    }
    if (end == 0 || text[0] == '.' || text[end - 1] == '.') return std::nullopt;
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, v);
    if (ec != std::errc() || ptr != text.data() + end || !std::isfinite(v)) return std::nullopt;
    return number_and_suffix{v, text.substr(end), !dot};
}

/// k, M, G multipliers (decimal, as in network rates); "" is 1.
std::optional<double> si_prefix(std::string_view p) {
    if (p.empty()) return 1.0;
    if (p == "k" || p == "K") return 1e3;
    if (p == "M") return 1e6;
    if (p == "G") return 1e9;
    return std::nullopt;
}

std::string trim_number(double v) {
    std::string s = fmt::format("{:.6g}", v);
    return s;
}

} // namespace

parsed<std::uint64_t> parse_size(std::string_view text) {
    auto n = split_number(text);
    if (!n || !n->integral) return std::unexpected(expected_got(size_help, text));
    struct unit {
        std::string_view name;
        std::uint64_t factor;
    };
    static constexpr unit units[] = {
        {"", 1},      {"B", 1},     {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
        {"kB", 1000}, {"KB", 1000}, {"MB", 1000000},     {"GB", 1000000000}};
    for (const auto& u : units) {
        if (n->suffix != u.name) continue;
        double bytes = n->number * static_cast<double>(u.factor);
        if (bytes > 9.0e15) return std::unexpected(fmt::format("size '{}' is too large", text));
        return static_cast<std::uint64_t>(bytes);
    }
    return std::unexpected(expected_got(size_help, text));
}

parsed<std::chrono::nanoseconds> parse_duration(std::string_view text) {
    auto n = split_number(text);
    if (!n) return std::unexpected(expected_got(duration_help, text));
    struct unit {
        std::string_view name;
        double ns;
    };
    static constexpr unit units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},   {"ms", 1e6},
                                     {"s", 1e9}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
    for (const auto& u : units) {
        if (n->suffix != u.name) continue;
        double ns = n->number * u.ns;
        if (ns > 1e18) return std::unexpected(fmt::format("duration '{}' is too long", text));
        return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
    }
    return std::unexpected(expected_got(duration_help, text));
}

parsed<rate> parse_rate(std::string_view text) {
    if (text == "unlimited") return rate{};
    auto n = split_number(text);
    if (!n) return std::unexpected(expected_got(rate_help, text));
    std::string_view s = n->suffix;
    rate::unit how;
    if (s.ends_with("bit/s")) {
        how = rate::unit::bits_per_second;
        s.remove_suffix(5);
    } else if (s.ends_with("/s")) {
        how = rate::unit::per_second;
        s.remove_suffix(2);
    } else {
        return std::unexpected(expected_got(rate_help, text));
    }
    auto mult = si_prefix(s);
    if (!mult) return std::unexpected(expected_got(rate_help, text));
    if (n->number <= 0)
        return std::unexpected(
            fmt::format("rate '{}' must be positive; write 'unlimited' for no limit", text));
    return rate{how, n->number * *mult};
}

parsed<double> parse_bit_rate(std::string_view text) {
    auto r = parse_rate(text);
    if (!r || r->how != rate::unit::bits_per_second)
        return std::unexpected(expected_got(bit_rate_help, text));
    return r->value;
}

parsed<std::uint64_t> parse_count(std::string_view text, std::uint64_t max) {
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || text[0] == '+')
        return std::unexpected(expected_got(fmt::format("a whole number from 0 to {}", max), text));
    if (v > max) return std::unexpected(fmt::format("{} is too large: at most {}", text, max));
    return v;
}

parsed<double> parse_percent(std::string_view text) {
    auto n = split_number(text);
    if (!n || n->suffix != "%") return std::unexpected(expected_got("a percentage such as 2% or 0.5%", text));
    return n->number / 100.0;
}

parsed<double> parse_number(std::string_view text) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v))
        return std::unexpected(expected_got("a number such as 20000 or 0.5", text));
    return v;
}

std::optional<std::string> decimal_size_note(std::string_view text) {
    struct unit {
        std::string_view decimal, binary;
        double factor;
    };
    static constexpr unit units[] = {
        {"kB", "KiB", 0x1p10}, {"KB", "KiB", 0x1p10}, {"MB", "MiB", 0x1p20}, {"GB", "GiB", 0x1p30}};
    auto n = split_number(text);
    auto bytes = parse_size(text);
    if (!n || !bytes) return std::nullopt;
    for (const auto& u : units)
        if (n->suffix == u.decimal) {
            auto number = text.substr(0, text.size() - u.decimal.size());
            return fmt::format("{} = {} B ({}{} would be {:.0f} B)", text, *bytes, number, u.binary,
                               n->number * u.factor);
        }
    return std::nullopt;
}

std::string format_size(std::uint64_t bytes) {
    static constexpr std::pair<std::uint64_t, std::string_view> units[] = {
        {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
    for (auto [factor, name] : units)
        if (bytes >= factor && bytes % factor == 0) return fmt::format("{}{}", bytes / factor, name);
    return fmt::format("{}", bytes);
}

std::string format_duration(std::chrono::nanoseconds d) {
    auto ns = d.count();
    static constexpr std::pair<std::int64_t, std::string_view> units[] = {{3600'000'000'000, "h"},
                                                                          {60'000'000'000, "m"},
                                                                          {1'000'000'000, "s"},
                                                                          {1'000'000, "ms"},
                                                                          {1'000, "us"}};
    for (auto [factor, name] : units)
        if (ns != 0 && ns % factor == 0) return fmt::format("{}{}", ns / factor, name);
    return fmt::format("{}ns", ns);
}

std::string format_rate(const rate& r) {
    if (r.how == rate::unit::unlimited) return "unlimited";
    std::string_view suffix = r.how == rate::unit::bits_per_second ? "bit/s" : "/s";
    static constexpr std::pair<double, std::string_view> prefixes[] = {{1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    for (auto [factor, p] : prefixes)
        if (r.value >= factor) return fmt::format("{}{}{}", trim_number(r.value / factor), p, suffix);
    return fmt::format("{}{}", trim_number(r.value), suffix);
}

} // namespace kp::runner
