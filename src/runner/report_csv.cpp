#include "runner/report_csv.hpp"

#include <fmt/format.h>

#include "engine/traffic.hpp"

namespace kp::runner {
namespace {

// Instance columns come first, then metrics in the order of enum metric, each under its name
// with the unit as a suffix. Aggregate rows add the 95% CI of the headline rates.
constexpr std::string_view head_columns[] = {"plan",    "started_at", "instance",    "scenario",
                                             "traffic", "parameters", "client_host", "server_host",
                                             "status",  "repeats"};
constexpr std::string_view metric_columns[] = {
    "throughput_bps",        "transactions_per_s",   "connections_per_s", "latency_p50_us", "latency_p90_us",
    "latency_p99_us",        "latency_p999_us",      "latency_p9999_us",  "latency_min_us", "latency_max_us",
    "latency_mean_us",       "loss_ratio",           "retransmits",       "client_cpu_s",   "server_cpu_s",
    "client_service_demand", "server_service_demand"};
static_assert(std::size(metric_columns) == metric_count);
constexpr std::string_view ci_columns[] = {"throughput_bps_ci95_low", "throughput_bps_ci95_high",
                                           "transactions_per_s_ci95_low", "transactions_per_s_ci95_high"};
constexpr std::string_view tail_columns[] = {"service_demand_unit", "checks_failed",    "failure",
                                             "peak_rate",           "peak_bracket_low", "peak_bracket_high",
                                             "proxy_cpu_s",         "added_latency_p50_us", "added_latency_p99_us"};

std::string number(const std::optional<double>& v) {
    return v ? fmt::format("{:.6g}", *v) : std::string();
}

std::string parameters_text(const instance_record& r) {
    std::string s;
    for (const auto& [k, v] : r.parameters)
        s += (s.empty() ? "" : ";") + k + "=" + v;
    return s;
}

std::vector<std::string> head(const run_record& run, const instance_record& r) {
    return {run.plan_name,
            run.started_at,
            r.id,
            r.scenario,
            std::string(engine::info(r.kind).name),
            parameters_text(r),
            r.client_host,
            r.server_host,
            to_string(r.status),
            std::to_string(r.repeats.size())};
}

std::vector<std::string> tail(const instance_record& r) {
    std::size_t failed = 0;
    for (const auto& c : r.checks)
        failed += c.passed ? 0 : 1;
    std::string failure;
    if (r.failure) failure = fmt::format("{}: {}: {}", r.failure->host, r.failure->step, r.failure->error);
    // `search:` instances: the peak (messages/s) and its bracket; empty otherwise.
    const auto* s = r.search ? &*r.search : nullptr;
    return {std::string(engine::info(r.kind).service_demand_unit),
            std::to_string(failed),
            failure,
            s ? number(s->peak) : "",
            s ? number(s->bracket_low) : "",
            s ? number(s->bracket_high) : "",
            // `via:` instances: the hops' host CPU; with compare_direct, the latency the chain adds.
            number(proxy_cpu_s(r.hops)),
            r.direct ? number(r.direct->added_latency_p50_us) : "",
            r.direct ? number(r.direct->added_latency_p99_us) : ""};
}

void append_row(std::string& out, const std::vector<std::string>& fields) {
    for (std::size_t i = 0; i < fields.size(); ++i)
        out += (i ? "," : "") + csv_field(fields[i]);
    out += "\n";
}

std::vector<std::string> build_columns(csv_rows rows) {
    std::vector<std::string> c;
    for (auto s : head_columns) {
        c.emplace_back(s);
        if (s == "instance" && rows == csv_rows::repeats) c.emplace_back("repeat");
    }
    for (auto s : metric_columns)
        c.emplace_back(s);
    if (rows == csv_rows::aggregate)
        for (auto s : ci_columns)
            c.emplace_back(s);
    for (auto s : tail_columns)
        c.emplace_back(s);
    return c;
}

} // namespace

std::string csv_field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
    std::string q = "\"";
    for (char ch : s)
        q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
}

const std::vector<std::string>& csv_columns(csv_rows rows) {
    static const std::vector<std::string> aggregate = build_columns(csv_rows::aggregate);
    static const std::vector<std::string> repeats = build_columns(csv_rows::repeats);
    return rows == csv_rows::aggregate ? aggregate : repeats;
}

std::string csv_text(const run_record& run, csv_rows rows) {
    std::string out;
    append_row(out, csv_columns(rows));
    for (const auto& r : run.instances) {
        if (rows == csv_rows::aggregate) {
            auto f = head(run, r);
            for (metric m : all_metrics()) {
                const auto* a = r.aggregate.find(m);
                f.push_back(a ? number(a->value) : std::string());
            }
            for (metric m : {metric::throughput_bps, metric::transactions_per_s}) {
                const auto* a = r.aggregate.find(m);
                bool ci = a && a->stats.has_ci();
                f.push_back(ci ? number(a->stats.ci_low) : std::string());
                f.push_back(ci ? number(a->stats.ci_high) : std::string());
            }
            for (auto& t : tail(r))
                f.push_back(std::move(t));
            append_row(out, f);
            continue;
        }
        for (const auto& rep : r.repeats) {
            auto f = head(run, r);
            f.insert(f.begin() + 3, std::to_string(rep.index));
            for (const auto& v : rep.metrics)
                f.push_back(number(v));
            for (auto& t : tail(r))
                f.push_back(std::move(t));
            append_row(out, f);
        }
    }
    return out;
}

} // namespace kp::runner
