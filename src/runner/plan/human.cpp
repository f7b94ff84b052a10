#include "runner/plan/human.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace kp::runner {
namespace {

/// |v| rounded once to 3 significant digits: digits 100..999 and the decimal exponent of the
/// first, so 999.96 is 100 and 3 (1.00e3). Rounding first decides the unit: 999.96 us is 1.00 ms.
struct rounded {
    int digits;
    int exp;
};
rounded round3(double a) {
    const std::string s = fmt::format("{:.2e}", a); // "9.41e+09"
    return {(s[0] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'), std::atoi(s.c_str() + 5)};
}

/// The 3 digits with the point after `e + 1` of them: e 0 "9.41", 1 "94.1", 2 "941", 3 "9410",
/// -1 "0.941".
std::string place_point(int digits, int e) {
    const std::string d = std::to_string(digits);
    if (e >= 2) return d + std::string(std::size_t(e - 2), '0');
    if (e >= 0) return d.substr(0, std::size_t(e + 1)) + "." + d.substr(std::size_t(e + 1));
    return "0." + std::string(std::size_t(-e - 1), '0') + d;
}

/// A figure on a scale of `units` steps of 1000: the number and the index of its unit (0: the
/// smallest). Past the ends the number grows digits ("1230 s") or leading zeros ("0.500 ns").
struct on_scale {
    std::string number;
    std::size_t unit = 0;
};
on_scale scale(double v, std::size_t units) {
    if (!std::isfinite(v)) return {fmt::format("{}", v), 0};
    if (v == 0) return {"0", 0};
    const auto r = round3(std::abs(v));
    const int top = int(units) - 1;
    const int u = std::clamp(r.exp >= 0 ? r.exp / 3 : -1, 0, top);
    return {(v < 0 ? "-" : "") + place_point(r.digits, r.exp - 3 * u), std::size_t(u)};
}

constexpr std::array<std::string_view, 5> si_prefixes = {"", "k", "M", "G", "T"};
constexpr std::array<std::string_view, 4> time_units = {"ns", "us", "ms", "s"};

bool is_demand(metric m) {
    return m == metric::client_service_demand || m == metric::server_service_demand;
}

} // namespace

std::string human_number(double v) {
    const double a = std::abs(v);
    // 1000 .. 9999 keep their 4 digits: "7500/s" reads better than "7.50k/s".
    if (std::isfinite(a) && a >= 999.5 && std::llround(a) < 10'000) return fmt::format("{}", std::llround(v));
    auto s = scale(v, si_prefixes.size());
    return s.number + std::string(si_prefixes[s.unit]);
}

std::string human_count(double n) {
    if (std::isfinite(n) && std::llround(std::abs(n)) < 10'000) return fmt::format("{}", std::llround(n));
    return human_number(n);
}

std::string human_ns(double ns) {
    auto s = scale(ns, time_units.size());
    return fmt::format("{} {}", s.number, time_units[s.unit]);
}

std::string human_us(double us) {
    return human_ns(us * 1e3);
}

std::string human_seconds(double s) {
    return human_ns(s * 1e9);
}

std::string human_rate(double per_s, std::string_view what) {
    return what.empty() ? human_number(per_s) + "/s" : fmt::format("{} {}/s", human_number(per_s), what);
}

std::string human_bit_rate(double bits_per_s) {
    auto s = scale(bits_per_s, si_prefixes.size());
    return fmt::format("{} {}bit/s", s.number, si_prefixes[s.unit]);
}

std::string human_size(double bytes) {
    static constexpr std::array<std::string_view, 5> units = {"B", "KiB", "MiB", "GiB", "TiB"};
    const double a = std::abs(bytes);
    if (!std::isfinite(a) || a < 1023.5) return fmt::format("{} B", std::llround(bytes));
    double m = a / 1024;
    std::size_t u = 1;
    for (; m >= 1023.5 && u + 1 < units.size(); ++u)
        m /= 1024;
    const char* sign = bytes < 0 ? "-" : "";
    // Binary steps leave 1000 .. 1023 in a unit: 4 digits rather than "0.98 MiB".
    if (m >= 999.5) return fmt::format("{}{} {}", sign, std::llround(m), units[u]);
    const auto r = round3(m);
    return fmt::format("{}{} {}", sign, place_point(r.digits, r.exp), units[u]);
}

std::string human_percent(double ratio) {
    return human_number(ratio * 100) + "%";
}

std::string plus_sign(double v, std::string text) {
    return v > 0 ? "+" + text : text;
}

std::string human_demand(double v, std::string_view unit) {
    if (unit == "us/transaction") return human_us(v) + "/transaction";
    if (unit == "s/GB") return human_seconds(v) + "/GB";
    return human_number(v); // no kind, or an older results.json's "us/transaction or s/GB"
}

std::string human_metric(metric m, double v, std::optional<engine::traffic> kind) {
    if (is_demand(m)) return human_demand(v, kind ? unit_of(m, *kind) : std::string_view());
    switch (m) {
    case metric::throughput_bps:
        return human_bit_rate(v);
    case metric::transactions_per_s:
        return human_rate(v, "tx");
    case metric::connections_per_s:
        return human_rate(v, "conn");
    case metric::loss_ratio:
        return human_percent(v);
    case metric::retransmits:
        return human_count(v);
    case metric::client_cpu_s:
    case metric::server_cpu_s:
        return human_seconds(v);
    case metric::fairness:
        return human_number(v);
    default:
        return human_us(v); // the latencies
    }
}

std::string human_metric(metric m, double v, std::string_view unit) {
    return is_demand(m) ? human_demand(v, unit) : human_metric(m, v, std::nullopt);
}

} // namespace kp::runner
