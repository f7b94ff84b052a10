#include "runner/report/csv.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"

namespace kp::runner {
namespace {

// Every column is one row of a table: its name and how its value is read, so a header and its
// value cannot drift apart. Instance columns come first, then metrics in the order of enum
// metric, each under its name with the unit as a suffix. Aggregate rows add the 95% CI of the
// headline rates; repeat rows add the repeat's index after the instance.

/// What one CSV row is made from.
struct row_source {
    const run_record& run;
    const instance_record& r;
    const repeat_record* rep;               ///< the repeat of a repeat row; null in an aggregate row
    const instance_record* group = nullptr; ///< a member row: its group's record
};

/// A member row's compare_idle record, if its group ran it alone.
const idle_record* idle_of(const row_source& s) {
    if (!s.group) return nullptr;
    for (const auto& i : s.group->group->idle)
        if (i.member == s.r.member) return &i;
    return nullptr;
}

struct column {
    std::string_view name;
    std::string (*value)(const row_source&);
};

std::string number(const std::optional<double>& v) {
    return v ? fmt::format("{:.6g}", *v) : std::string();
}

std::string parameters_text(const instance_record& r) {
    std::string s;
    for (const auto& [k, v] : r.parameters)
        s += (s.empty() ? "" : ";") + k + "=" + v;
    return s;
}

constexpr column id_columns[] = {
    {"plan", [](const row_source& s) { return s.run.plan_name; }},
    {"started_at", [](const row_source& s) { return s.run.started_at; }},
    {"instance", [](const row_source& s) { return s.r.id; }},
};
/// Repeat rows only, right after the id columns.
constexpr column repeat_column = {"repeat", [](const row_source& s) { return std::to_string(s.rep->index); }};
constexpr column instance_columns[] = {
    {"scenario", [](const row_source& s) { return s.r.scenario; }},
    {"traffic",
     [](const row_source& s) {
         return s.r.is_group() ? std::string("group") : std::string(engine::info(s.r.kind).name);
     }},
    {"parameters", [](const row_source& s) { return parameters_text(s.r); }},
    {"client_host", [](const row_source& s) { return s.r.client_host; }},
    {"server_host", [](const row_source& s) { return s.r.server_host; }},
    {"status", [](const row_source& s) { return std::string(to_string(s.r.status)); }},
    {"repeats", [](const row_source& s) { return std::to_string(s.r.repeats.size()); }},
};
constexpr std::string_view metric_names[] = {
    "throughput_bps",        "transactions_per_s",    "connections_per_s",
    "latency_p50_us",        "latency_p90_us",        "latency_p99_us",
    "latency_p999_us",       "latency_p9999_us",      "latency_min_us",
    "latency_max_us",        "latency_mean_us",       "loss_ratio",
    "retransmits",           "client_cpu_s",          "server_cpu_s",
    "client_service_demand", "server_service_demand", "fairness",
    "send_lateness_p99_us"};
static_assert(std::size(metric_names) == metric_count);

/// A metric: the repeat's value in a repeat row, the aggregate value in an aggregate row.
template <std::size_t I> std::string metric_value(const row_source& s) {
    if (s.rep != nullptr) return number(s.rep->metrics[I]);
    const auto* a = s.r.aggregate.find(static_cast<metric>(I));
    return a ? number(a->value) : std::string();
}

template <std::size_t... I>
constexpr std::array<column, sizeof...(I)> make_metric_columns(std::index_sequence<I...>) {
    return {{column{metric_names[I], &metric_value<I>}...}};
}
// Columns are only ever appended: the metrics added after the first 17 (fairness) come at the
// very end of the row (appended_metric_columns), not among these.
constexpr std::size_t first_metrics = 17;
static_assert(static_cast<std::size_t>(metric::fairness) == first_metrics);
constexpr auto metric_columns = make_metric_columns(std::make_index_sequence<first_metrics>{});
constexpr column appended_metric_columns[] = {
    {metric_names[first_metrics], &metric_value<first_metrics>},
};
constexpr std::size_t send_lateness_index = static_cast<std::size_t>(metric::send_lateness_p99);
static_assert(first_metrics + std::size(appended_metric_columns) + 1 == metric_count); // + late_columns'

/// One end of the 95% CI of metric M over the repeats (aggregate rows only).
template <metric M, bool High> std::string ci_bound(const row_source& s) {
    const auto* a = s.r.aggregate.find(M);
    if (!a || !a->stats.has_ci()) return {};
    return number(High ? a->stats.ci_high : a->stats.ci_low);
}

constexpr column ci_columns[] = {
    {"throughput_bps_ci95_low", &ci_bound<metric::throughput_bps, false>},
    {"throughput_bps_ci95_high", &ci_bound<metric::throughput_bps, true>},
    {"transactions_per_s_ci95_low", &ci_bound<metric::transactions_per_s, false>},
    {"transactions_per_s_ci95_high", &ci_bound<metric::transactions_per_s, true>},
};

constexpr column tail_columns[] = {
    {"service_demand_unit",
     [](const row_source& s) {
         return s.r.is_group() ? std::string() : std::string(engine::info(s.r.kind).service_demand_unit);
     }},
    {"checks_failed",
     [](const row_source& s) {
         std::size_t failed = 0;
         for (const auto& c : s.r.checks)
             failed += c.passed ? 0 : 1;
         return std::to_string(failed);
     }},
    {"failure",
     [](const row_source& s) {
         const auto& f = s.r.failure;
         return f ? fmt::format("{}: {}: {}", f->host, f->step, f->error) : std::string();
     }},
    // `search:` instances: the peak (messages/s) and its bracket; empty otherwise.
    {"peak_rate", [](const row_source& s) { return s.r.search ? number(s.r.search->peak) : std::string(); }},
    {"peak_bracket_low",
     [](const row_source& s) { return s.r.search ? number(s.r.search->bracket_low) : std::string(); }},
    {"peak_bracket_high",
     [](const row_source& s) { return s.r.search ? number(s.r.search->bracket_high) : std::string(); }},
    // `via:` instances: the hops' host CPU; with compare_direct, the latency the chain adds.
    {"proxy_cpu_s", [](const row_source& s) { return number(proxy_cpu_s(s.r.hops)); }},
    {"added_latency_p50_us",
     [](const row_source& s) {
         return s.r.direct ? number(s.r.direct->added_latency_p50_us) : std::string();
     }},
    {"added_latency_p99_us",
     [](const row_source& s) {
         return s.r.direct ? number(s.r.direct->added_latency_p99_us) : std::string();
     }},
    // Groups: a member row names its group; the group row gives the least window overlap; a
    // latency member run alone (compare_idle) gives how much its latency grew under load.
    {"group", [](const row_source& s) { return s.group ? s.group->id : std::string(); }},
    {"window_overlap",
     [](const row_source& s) {
         if (!s.r.is_group() || s.r.group->repeats.empty()) return std::string();
         double o = 1;
         for (const auto& rep : s.r.group->repeats)
             if (!s.rep || rep.index == s.rep->index) o = std::min(o, rep.overlap);
         return number(o);
     }},
    {"latency_p50_inflation_us",
     [](const row_source& s) {
         const auto* i = idle_of(s);
         return i ? number(i->p50_inflation_us) : std::string();
     }},
    {"latency_p99_inflation_us",
     [](const row_source& s) {
         const auto* i = idle_of(s);
         return i ? number(i->p99_inflation_us) : std::string();
     }},
};

/// Appended after the appended metrics, in the order they were added. A metric added from now on
/// goes here too, at the end, not into appended_metric_columns (that would move these).
constexpr column late_columns[] = {
    // The setup that held (`setup:`); a member row gives its group's.
    {"setup",
     [](const row_source& s) {
         const auto& set = s.group ? s.group->setup : s.r.setup;
         return set ? set->name : std::string();
     }},
    // rpctest's view: the median of the per-repeat p50s (aggregate rows with two repeats or more;
    // latency_p50_us is the merged histogram's).
    {"latency_p50_median_of_repeats_us",
     [](const row_source& s) {
         const auto* a = s.r.aggregate.find(metric::latency_p50);
         return !s.rep && a && a->stats.n >= 2 ? number(a->stats.median) : std::string();
     }},
    {metric_names[send_lateness_index], &metric_value<send_lateness_index>},
};

std::vector<column> build_columns(csv_rows rows) {
    std::vector<column> c;
    c.insert(c.end(), std::begin(id_columns), std::end(id_columns));
    if (rows == csv_rows::repeats) c.push_back(repeat_column);
    c.insert(c.end(), std::begin(instance_columns), std::end(instance_columns));
    c.insert(c.end(), metric_columns.begin(), metric_columns.end());
    if (rows == csv_rows::aggregate) c.insert(c.end(), std::begin(ci_columns), std::end(ci_columns));
    c.insert(c.end(), std::begin(tail_columns), std::end(tail_columns));
    c.insert(c.end(), std::begin(appended_metric_columns), std::end(appended_metric_columns));
    c.insert(c.end(), std::begin(late_columns), std::end(late_columns));
    return c;
}

const std::vector<column>& columns_of(csv_rows rows) {
    static const std::vector<column> aggregate = build_columns(csv_rows::aggregate);
    static const std::vector<column> repeats = build_columns(csv_rows::repeats);
    return rows == csv_rows::aggregate ? aggregate : repeats;
}

std::vector<std::string> names_of(csv_rows rows) {
    std::vector<std::string> out;
    for (const auto& c : columns_of(rows))
        out.emplace_back(c.name);
    return out;
}

void append_row(std::string& out, const std::vector<column>& columns, const row_source& src) {
    for (std::size_t i = 0; i < columns.size(); ++i)
        out += (i ? "," : "") + csv_field(columns[i].value(src));
    out += "\n";
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
    static const std::vector<std::string> aggregate = names_of(csv_rows::aggregate);
    static const std::vector<std::string> repeats = names_of(csv_rows::repeats);
    return rows == csv_rows::aggregate ? aggregate : repeats;
}

std::string csv_text(const run_record& run, csv_rows rows) {
    std::string out;
    const auto& header = csv_columns(rows);
    for (std::size_t i = 0; i < header.size(); ++i)
        out += (i ? "," : "") + csv_field(header[i]);
    out += "\n";
    const auto& columns = columns_of(rows);
    auto rows_of = [&](const instance_record& r, const instance_record* group) {
        if (rows == csv_rows::aggregate) return append_row(out, columns, {run, r, nullptr, group});
        for (const auto& rep : r.repeats)
            append_row(out, columns, {run, r, &rep, group});
    };
    for (const auto& r : run.instances) {
        for (const auto& m : r.members) // a group: one row per member, then the group's row
            rows_of(m, &r);
        rows_of(r, nullptr);
    }
    return out;
}

std::string samples_csv_text(const run_record& run) {
    std::string out = std::string(samples_csv_columns) + "\n";
    auto rows_of = [&](const instance_record& r) {
        for (const auto& rep : r.repeats)
            for (const auto* side : {&rep.client, &rep.server}) {
                double prev = 0;
                for (std::size_t i = 0; i < side->samples.size(); ++i) {
                    const auto& s = side->samples[i];
                    const double dt = s.t - prev > 0 ? s.t - prev : 1;
                    prev = s.t;
                    out +=
                        fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(run.plan_name),
                                    csv_field(r.id), rep.index, side == &rep.client ? "client" : "server",
                                    i + 1, number(s.t), s.bytes, s.transactions,
                                    number(8.0 * double(s.bytes) / dt), number(double(s.transactions) / dt),
                                    number(s.latency_p50_us), number(s.latency_p99_us));
                }
            }
    };
    for (const auto& r : run.instances) {
        for (const auto& m : r.members)
            rows_of(m);
        rows_of(r);
    }
    return out;
}

} // namespace kp::runner
