#include "runner/plan/metric.hpp"

#include "engine/traffic/traffic.hpp"

namespace kp::runner {
namespace {

// Order matches enum class metric. Tolerances are generous on purpose: a CI gate that cries
// wolf gets switched off. compare also requires the change to be outside the intervals.
constexpr std::array<metric_info, metric_count> table = {{
    {"throughput_bps", "bit/s", better::higher, 0.10, false},
    {"transactions_per_s", "1/s", better::higher, 0.10, false},
    {"connections_per_s", "1/s", better::higher, 0.10, false},
    {"latency_p50", "us", better::lower, 0.25, true},
    {"latency_p90", "us", better::lower, 0.25, true},
    {"latency_p99", "us", better::lower, 0.25, true},
    {"latency_p999", "us", better::lower, 0, true},
    {"latency_p9999", "us", better::lower, 0, true},
    {"latency_min", "us", better::lower, 0, true},
    {"latency_max", "us", better::lower, 0, true},
    {"latency_mean", "us", better::lower, 0.25, true},
    {"loss_ratio", "ratio", better::lower, 0, false},
    {"retransmits", "count", better::lower, 0, false},
    {"client_cpu_s", "s", better::none, 0, false},
    {"server_cpu_s", "s", better::none, 0, false},
    {"client_service_demand", "us/transaction or s/GB", better::lower, 0, false},
    {"server_service_demand", "us/transaction or s/GB", better::lower, 0, false},
    {"fairness", "ratio", better::higher, 0, false},
    {"send_lateness_p99", "us", better::lower, 0, false},
}};

} // namespace

const metric_info& info(metric m) {
    return table.at(static_cast<std::size_t>(m));
}

std::optional<double> percentile_of(metric m) {
    switch (m) {
    case metric::latency_p50:
        return 50;
    case metric::latency_p90:
        return 90;
    case metric::latency_p99:
        return 99;
    case metric::latency_p999:
        return 99.9;
    case metric::latency_p9999:
        return 99.99;
    default:
        return std::nullopt;
    }
}

std::optional<metric> metric_from_name(std::string_view name) {
    for (std::size_t i = 0; i < metric_count; ++i)
        if (table[i].name == name) return static_cast<metric>(i);
    return std::nullopt;
}

std::string_view unit_of(metric m, engine::traffic kind) {
    if (m == metric::client_service_demand || m == metric::server_service_demand)
        return engine::info(kind).service_demand_unit;
    return info(m).unit;
}

std::array<metric, metric_count> all_metrics() {
    std::array<metric, metric_count> all{};
    for (std::size_t i = 0; i < metric_count; ++i)
        all[i] = static_cast<metric>(i);
    return all;
}

bool measured_by(engine::traffic kind, metric m) {
    const engine::traffic_info& row = engine::info(kind);
    if (info(m).is_latency) return !row.stream();
    switch (m) {
    case metric::transactions_per_s:
        return !row.stream();
    case metric::connections_per_s:
        return row.crr();
    case metric::loss_ratio:
        return row.udp();
    case metric::retransmits:
        return row.tcp();
    case metric::send_lateness_p99: // in open loop only: rr, crr and paced UDP
        return !row.stream() || row.udp();
    default:
        return true; // throughput and CPU figures: every kind
    }
}

double default_tolerance(engine::traffic kind, metric m) {
    if (m == metric::throughput_bps && !engine::info(kind).stream()) return 0;
    return info(m).tolerance;
}

std::vector<metric> measured_metrics(engine::traffic kind) {
    std::vector<metric> out;
    for (metric m : all_metrics())
        if (measured_by(kind, m)) out.push_back(m);
    return out;
}

} // namespace kp::runner
