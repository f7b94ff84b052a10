#include "runner/plan/expect.hpp"

#include <fmt/format.h>
#include <vector>

#include "runner/plan/metric.hpp"

namespace kp::runner {
namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
        s.remove_suffix(1);
    return s;
}

/// The bound written after the comparison, converted to `unit` (the metric table's unit).
parsed<double> parse_bound(std::string_view unit, std::string_view text) {
    if (unit == "us" || unit == "s") {
        auto d = parse_duration(text);
        if (!d) return std::unexpected(d.error());
        double ns = static_cast<double>(d->count());
        return unit == "us" ? ns / 1e3 : ns / 1e9;
    }
    if (unit == "bit/s" || unit == "1/s") {
        if (auto n = parse_number(text)) return *n;
        auto r = parse_rate(text);
        bool bits = unit == "bit/s";
        auto want = bits ? rate::unit::bits_per_second : rate::unit::per_second;
        if (!r || r->how != want)
            return std::unexpected(fmt::format(
                "expected {}, got '{}'",
                bits ? "a bit rate such as 9Gbit/s or 500Mbit/s" : "a rate such as 20000 or 20k/s", text));
        return r->value;
    }
    if (unit == "ratio") {
        if (auto p = parse_percent(text)) {
            // `< 150%` would hold always and `> -1%` never: a ratio bound is a share of the messages.
            if (*p < 0 || *p > 1)
                return std::unexpected(fmt::format(
                    "expected a percentage from 0% to 100% or a ratio from 0 to 1, got '{}'", text));
            return *p;
        }
        auto n = parse_number(text);
        if (!n || *n < 0 || *n > 1)
            return std::unexpected(
                fmt::format("expected a percentage such as 0.1% or a ratio from 0 to 1, got '{}'", text));
        return *n;
    }
    auto n = parse_number(text);
    if (!n) return std::unexpected(fmt::format("expected a number in {}, got '{}'", unit, text));
    return *n;
}

} // namespace

std::string_view symbol(comparison c) {
    switch (c) {
    case comparison::lt:
        return "<";
    case comparison::le:
        return "<=";
    case comparison::gt:
        return ">";
    case comparison::ge:
        return ">=";
    }
    return "?";
}

bool is_metric_name(std::string_view name) {
    return metric_from_name(name).has_value();
}

parsed<expectation> parse_expectation(std::string_view metric_name, std::string_view text) {
    auto m = metric_from_name(metric_name);
    if (!m) {
        std::vector<std::string_view> names;
        for (auto x : all_metrics())
            names.push_back(info(x).name);
        return std::unexpected(
            fmt::format("unknown metric '{}'{}", metric_name, did_you_mean(metric_name, names)));
    }
    expectation e;
    e.metric = std::string(metric_name);
    e.text = std::string(text);
    std::string_view rest = trim(text);
    if (rest.starts_with("<="))
        e.op = comparison::le;
    else if (rest.starts_with(">="))
        e.op = comparison::ge;
    else if (rest.starts_with("<"))
        e.op = comparison::lt;
    else if (rest.starts_with(">"))
        e.op = comparison::gt;
    else
        return std::unexpected(
            fmt::format("{}: expected a comparison (<, <=, >, >=) and a bound such as \"< 800us\", got '{}'",
                        metric_name, text));
    rest = trim(rest.substr(e.op == comparison::le || e.op == comparison::ge ? 2 : 1));
    auto bound = parse_bound(info(*m).unit, rest);
    if (!bound) return std::unexpected(fmt::format("{}: {}", metric_name, bound.error()));
    e.bound = *bound;
    return e;
}

} // namespace kp::runner
