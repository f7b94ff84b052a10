#include "runner/results/aggregate.hpp"

#include "runner/results/record.hpp"

namespace kp::runner {

const metric_aggregate* instance_aggregate::find(metric m) const {
    for (const auto& a : metrics)
        if (a.which == m) return &a;
    return nullptr;
}

instance_aggregate aggregate_repeats(std::span<const metric_values> values,
                                     std::span<const engine::histogram> latencies) {
    instance_aggregate out;
    for (const auto& h : latencies)
        out.latency.merge(h);
    for (metric m : all_metrics()) {
        metric_aggregate a;
        a.which = m;
        for (const auto& v : values)
            if (const auto& x = v[static_cast<std::size_t>(m)]) a.per_repeat.push_back(*x);
        if (a.per_repeat.empty()) continue;
        a.stats = info(m).is_latency ? summarize_log(a.per_repeat) : summarize(a.per_repeat);
        a.value = a.stats.mean;
        if (info(m).is_latency)
            if (auto merged = latency_from(out.latency, m)) a.value = *merged;
        out.metrics.push_back(std::move(a));
    }
    return out;
}

instance_aggregate aggregate_of(std::span<const repeat_record> repeats) {
    std::vector<metric_values> values;
    std::vector<engine::histogram> latencies;
    for (const auto& r : repeats) {
        values.push_back(r.metrics);
        latencies.push_back(r.client.latency);
    }
    return aggregate_repeats(values, latencies);
}

} // namespace kp::runner
