#include "runner/plan/gate.hpp"

#include <vector>

#include <fmt/format.h>

namespace kp::runner {

std::string unknown_metric(std::string_view name) {
    std::vector<std::string_view> names;
    for (auto m : all_metrics())
        names.push_back(info(m).name);
    return fmt::format("unknown metric '{}'{}", name, did_you_mean(name, names));
}

parsed<gate_entry> parse_gate(std::string_view metric_name, std::string_view text) {
    auto m = metric_from_name(metric_name);
    if (!m) return std::unexpected(unknown_metric(metric_name));
    gate_entry g;
    g.which = *m;
    g.text = std::string(text);
    if (text == "off") return g;
    auto p = parse_percent(text);
    if (!p || *p < 0)
        return std::unexpected(fmt::format(
            "{}: expected a tolerance such as 5% or 0.5%, or off; got '{}'", metric_name, text));
    g.tolerance = *p;
    return g;
}

} // namespace kp::runner
