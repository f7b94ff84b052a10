#include "runner/results/expect_eval.hpp"

#include <fmt/format.h>

#include "runner/plan/expect.hpp"
#include "runner/plan/human.hpp"

namespace kp::runner {

check_result evaluate_check(const check_spec& spec, const instance_aggregate& aggregate) {
    check_result r;
    r.metric = spec.metric;
    r.op = spec.op;
    r.bound = spec.bound;
    r.text = spec.text;
    auto m = metric_from_name(spec.metric);
    const metric_aggregate* a = m ? aggregate.find(*m) : nullptr;
    if (!a) return r; // not measured: a check that cannot be verified does not pass
    r.measured = a->value;
    if (a->stats.has_ci()) r.ci = std::pair(a->stats.ci_low, a->stats.ci_high);
    double v = a->value;
    switch (spec.op) {
    case comparison::lt:
        r.passed = v < spec.bound;
        break;
    case comparison::le:
        r.passed = v <= spec.bound;
        break;
    case comparison::gt:
        r.passed = v > spec.bound;
        break;
    case comparison::ge:
        r.passed = v >= spec.bound;
        break;
    }
    return r;
}

std::string describe_check(const check_result& c, std::optional<engine::traffic> kind) {
    // A group's check on a member reads "probe.latency_p99".
    std::string_view name = c.metric;
    if (auto dot = name.find('.'); dot != std::string_view::npos) name.remove_prefix(dot + 1);
    auto m = metric_from_name(name);
    // Not a metric (search_peak: messages/s): a bare number.
    auto text = [&](double v) { return m ? human_metric(*m, v, kind) : human_number(v); };
    std::string head = fmt::format(
        "{} {}", c.metric, c.text.empty() ? fmt::format("{} {}", symbol(c.op), text(c.bound)) : c.text);
    if (!c.measured) return head + ": not measured";
    std::string s = fmt::format("{}: measured {}", head, text(*c.measured));
    if (c.ci) s += fmt::format(" (95% CI {} .. {})", text(c.ci->first), text(c.ci->second));
    return s;
}

} // namespace kp::runner
