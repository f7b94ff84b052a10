#include "runner/report/json.hpp"

#include <algorithm>
#include <map>

#include "engine/traffic/traffic.hpp"
#include "engine/wire/codec.hpp"
#include "runner/plan/expect.hpp"
#include "runner/results/compare.hpp"

namespace kp::runner {
namespace {

using nlohmann::json;

json optional_number(const std::optional<double>& v) {
    return v ? json(*v) : json(nullptr);
}

json failure_json(const std::optional<failure_reason>& f) {
    if (!f) return nullptr;
    return {{"host", f->host}, {"step", f->step}, {"error", f->error}};
}

json metrics_json(const metric_values& v) {
    json out = json::object();
    for (metric m : all_metrics())
        if (const auto& x = v[static_cast<std::size_t>(m)]) out[std::string(info(m).name)] = *x;
    return out;
}

json repeat_json(const repeat_record& r) {
    double seconds = static_cast<double>(r.shared_end_ns - r.shared_start_ns) / 1e9;
    json out = {
        {"index", r.index},
        {"metrics", metrics_json(r.metrics)},
        {"shared_window",
         {{"start_ns", r.shared_start_ns}, {"end_ns", r.shared_end_ns}, {"seconds", seconds}}},
        {"clock_offset_ns", r.clock_offset_ns},
        {"clock_uncertainty_ns", r.clock_uncertainty_ns},
        {"client", r.client},
        {"server", r.server},
    };
    if (!r.hops.empty()) out["hops"] = r.hops; // the forwarders' side results, with `relay`
    return out;
}

/// `via:` instances: per hop (host, role proxy) CPU, service demand and what it relayed.
json hops_json(const std::vector<hop_record>& hops) {
    json out = json::array();
    for (const auto& h : hops)
        out.push_back({{"host", h.host},
                       {"role", h.role},
                       {"cpu_s", h.cpu_s},
                       {"process_cpu_s", h.process_cpu_s},
                       {"service_demand", optional_number(h.service_demand)},
                       {"connections", h.connections},
                       {"bytes_forward", h.bytes_forward},
                       {"bytes_backward", h.bytes_backward},
                       {"errors", h.errors},
                       {"placement_note", h.placement_note}});
    return out;
}

json check_json(const check_result& c) {
    json ci = nullptr;
    if (c.ci) ci = json::array({c.ci->first, c.ci->second});
    return {{"metric", c.metric}, {"op", std::string(symbol(c.op))},         {"bound", c.bound},
            {"text", c.text},     {"measured", optional_number(c.measured)}, {"ci95", ci},
            {"passed", c.passed}};
}

/// `search:` instances: every probe (the load-latency curve) and the peak with its bracket.
json search_json(const search_record& s) {
    json probes = json::array();
    for (const auto& p : s.probes) {
        json slo = json::array();
        for (const auto& o : p.slo)
            slo.push_back({{"metric", o.metric},
                           {"text", o.text},
                           {"measured", optional_number(o.measured)},
                           {"passed", o.passed}});
        probes.push_back({{"index", p.index},
                          {"phase", p.phase},
                          {"attempt", p.attempt},
                          {"duration_s", p.duration_s},
                          {"samples", p.samples},
                          {"offered", p.offered},
                          {"achieved", p.achieved},
                          {"passed", p.passed},
                          {"why", p.why},
                          {"late_sends", p.late_sends},
                          {"counted", p.counted},
                          {"steal_share", p.steal_share},
                          {"slo", slo},
                          {"metrics", metrics_json(p.metrics)}});
    }
    json inversions = json::array();
    for (const auto& i : s.inversions)
        inversions.push_back({{"pass_index", i.pass_index},
                              {"pass_offered", i.pass_offered},
                              {"fail_index", i.fail_index},
                              {"fail_offered", i.fail_offered}});
    return {{"outcome", to_string(s.outcome)},
            {"peak", optional_number(s.peak)},
            {"bracket", json::array({optional_number(s.bracket_low), optional_number(s.bracket_high)})},
            {"unit", "1/s"},
            {"stopped", s.stopped},
            {"samples_needed", s.samples_needed},
            {"non_monotonic", inversions},
            {"probes", probes}};
}

/// The client's TLS handshake step (tcp_crr with TLS) merged over the repeats, as the latency is.
engine::histogram merged_handshakes(const std::vector<repeat_record>& repeats) {
    engine::histogram h;
    for (const auto& rep : repeats)
        h.merge(rep.client.handshake_latency);
    return h;
}

json parameters_json(const std::vector<std::pair<std::string, std::string>>& ps) {
    json out = json::object();
    for (const auto& [k, v] : ps)
        out[k] = v;
    return out;
}

} // namespace

const char* to_string(instance_status s) {
    switch (s) {
    case instance_status::ok:
        return "ok";
    case instance_status::expect_failed:
        return "expect_failed";
    case instance_status::failed:
        return "failed";
    case instance_status::interrupted:
        return "interrupted";
    case instance_status::skipped:
        return "skipped";
    }
    return "?";
}

const char* to_string(run_status s) {
    switch (s) {
    case run_status::running:
        return "running";
    case run_status::complete:
        return "complete";
    case run_status::interrupted:
        return "interrupted";
    case run_status::aborted:
        return "aborted";
    }
    return "?";
}

json aggregate_json(const instance_aggregate& a, std::optional<engine::traffic> kind) {
    json metrics = json::object();
    for (const auto& m : a.metrics) {
        const auto& i = info(m.which);
        json ci = nullptr;
        if (m.stats.has_ci()) ci = json::array({m.stats.ci_low, m.stats.ci_high});
        const std::string_view unit = kind ? unit_of(m.which, *kind) : i.unit;
        metrics[std::string(i.name)] = {
            {"unit", unit},
            {"value", m.value},
            {"mean", m.stats.mean},
            {"median", m.stats.median},
            {"min", m.stats.min},
            {"max", m.stats.max},
            {"stddev", m.stats.stddev},
            {"ci95", ci},
            {"n", m.stats.n},
            {"per_repeat", m.per_repeat},
        };
    }
    return {{"metrics", metrics}, {"latency_histogram", a.latency}};
}

namespace {

/// `setup`: what the instance's setup applied on each host (null without one).
json setup_json(const std::optional<setup_record>& s) {
    if (!s) return nullptr;
    auto values = [](const std::vector<setup_value>& list, bool irq) {
        json out = json::array();
        for (const auto& v : list) {
            json x = {{irq ? "interface" : "name", v.name}, {"before", v.before}, {"after", v.after}};
            if (irq) x["irq"] = v.irq;
            out.push_back(std::move(x));
        }
        return out;
    };
    json hosts = json::array();
    for (const auto& h : s->hosts) {
        json commands = json::array();
        for (const auto& c : h.commands)
            commands.push_back({{"command", c.command},
                                {"exit_code", c.exit_code},
                                {"stdout", c.stdout_text},
                                {"stderr", c.stderr_text}});
        hosts.push_back({{"host", h.host},
                         {"sysctl", values(h.sysctl, false)},
                         {"irq_affinity", values(h.irqs, true)},
                         {"commands", commands}});
    }
    return {{"name", s->name}, {"hosts", hosts}};
}

/// A group: its own figures per repeat and aggregated, and every member as an instance.
json group_json(const instance_record& r) {
    const group_record& g = *r.group;
    json repeats = json::array();
    for (std::size_t i = 0; i < r.repeats.size(); ++i) {
        const repeat_record& rep = r.repeats[i];
        double seconds = static_cast<double>(rep.shared_end_ns - rep.shared_start_ns) / 1e9;
        json hosts = json::array();
        if (i < g.repeats.size())
            for (const auto& h : g.repeats[i].hosts)
                hosts.push_back({{"host", h.host},
                                 {"cpu_s", h.cpu.busy()},
                                 {"cpus", h.cpus},
                                 {"cpu", h.cpu},
                                 {"members", h.members}});
        repeats.push_back(
            {{"index", rep.index},
             {"metrics", metrics_json(rep.metrics)},
             {"shared_window",
              {{"start_ns", rep.shared_start_ns}, {"end_ns", rep.shared_end_ns}, {"seconds", seconds}}},
             {"overlap", i < g.repeats.size() ? g.repeats[i].overlap : 0.0},
             {"late_starts", i < g.repeats.size() ? g.repeats[i].late_starts : 0},
             {"clock_offset_ns", rep.clock_offset_ns},
             {"clock_uncertainty_ns", rep.clock_uncertainty_ns},
             {"hosts", hosts}});
    }
    // Per host over the repeats: the mean of its CPU seconds (counted once per repeat).
    std::vector<std::string> order;
    std::map<std::string, std::pair<double, std::size_t>> cpu;
    std::map<std::string, std::vector<std::string>> served;
    for (const auto& rep : g.repeats)
        for (const auto& h : rep.hosts) {
            if (!cpu.contains(h.host)) order.push_back(h.host);
            cpu[h.host].first += h.cpu.busy();
            cpu[h.host].second += 1;
            served[h.host] = h.members;
        }
    json hosts = json::array();
    for (const auto& h : order)
        hosts.push_back(
            {{"host", h}, {"cpu_s", cpu[h].first / double(cpu[h].second)}, {"members", served[h]}});
    json members = json::array();
    for (const auto& m : r.members)
        members.push_back(instance_json(m));
    json idle = json::array();
    for (const auto& x : g.idle) {
        std::optional<engine::traffic> kind;
        for (const auto& m : r.members)
            if (m.member == x.member) kind = m.kind;
        json reps = json::array();
        for (const auto& rep : x.repeats)
            reps.push_back(repeat_json(rep));
        idle.push_back({{"member", x.member},
                        {"repeats", reps},
                        {"aggregate", aggregate_json(x.aggregate, kind)},
                        {"p50_inflation_us", optional_number(x.p50_inflation_us)},
                        {"p99_inflation_us", optional_number(x.p99_inflation_us)}});
    }
    double overlap = 1;
    for (const auto& rep : g.repeats)
        overlap = std::min(overlap, rep.overlap);
    json checks = json::array();
    for (const auto& c : r.checks)
        checks.push_back(check_json(c));
    return {
        {"type", "instance"},
        {"id", r.id},
        {"scenario", r.scenario},
        {"traffic", "group"},
        {"parameters", parameters_json(r.parameters)},
        {"status", to_string(r.status)},
        {"failure", failure_json(r.failure)},
        {"elapsed_s", r.elapsed_s},
        {"repeats", repeats},
        {"aggregate", aggregate_json(r.aggregate, std::nullopt)},
        {"checks", checks},
        {"setup", setup_json(r.setup)},
        {"group",
         {{"members", members},
          {"hosts", hosts},
          {"idle", idle},
          {"min_overlap", g.repeats.empty() ? json(nullptr) : json(overlap)}}},
    };
}

} // namespace

json instance_json(const instance_record& r) {
    if (r.is_group()) return group_json(r);
    json repeats = json::array();
    for (const auto& rep : r.repeats)
        repeats.push_back(repeat_json(rep));
    json checks = json::array();
    for (const auto& c : r.checks)
        checks.push_back(check_json(c));
    json out = {
        {"type", "instance"},
        {"id", r.id},
        {"scenario", r.scenario},
        {"traffic", engine::info(r.kind).name},
        {"parameters", parameters_json(r.parameters)},
        {"client_host", r.client_host},
        {"server_host", r.server_host},
        {"client_job", r.client_job},
        {"server_job", r.server_job},
        {"status", to_string(r.status)},
        {"failure", failure_json(r.failure)},
        {"elapsed_s", r.elapsed_s},
        {"repeats", repeats},
        {"aggregate", aggregate_json(r.aggregate, r.kind)},
        {"checks", checks},
        {"warnings", r.warnings},
    };
    if (!r.gate.empty()) {
        json gate = json::object();
        for (const auto& [m, text] : r.gate)
            gate[m] = text;
        out["gate"] = gate;
    }
    if (!r.member.empty())
        out["member"] = r.member;
    else
        out["setup"] = setup_json(r.setup); // a group's setup is the group's, not its members'

    out["aggregate"]["handshake_latency_histogram"] = merged_handshakes(r.repeats);
    if (r.search) out["search"] = search_json(*r.search);
    if (!r.hops.empty()) out["hops"] = hops_json(r.hops);
    if (const auto& d = r.direct) {
        json repeats = json::array();
        for (const auto& rep : d->repeats)
            repeats.push_back(repeat_json(rep));
        json aggregate = aggregate_json(d->aggregate, r.kind);
        aggregate["handshake_latency_histogram"] = merged_handshakes(d->repeats);
        out["direct"] = {{"repeats", repeats},
                         {"aggregate", aggregate},
                         {"added_latency_p50_us", optional_number(d->added_latency_p50_us)},
                         {"added_latency_p99_us", optional_number(d->added_latency_p99_us)},
                         {"added_cpu_s", optional_number(d->added_cpu_s)}};
    }
    return out;
}

json host_json(const host_record& h) {
    json deploy = nullptr;
    if (h.deploy)
        deploy = {{"method", h.deploy->method},
                  {"uploaded", h.deploy->uploaded},
                  {"path", h.deploy->path},
                  {"sha256", h.deploy->sha256}};
    return {{"name", h.name},
            {"transport", h.transport},
            {"deploy", deploy},
            {"address", h.address},
            {"capabilities", h.capabilities.is_null() ? json::object() : h.capabilities},
            {"environment", h.environment.is_null() ? json::object() : h.environment},
            {"failure", failure_json(h.failure)}};
}

json run_header_json(const run_record& r) {
    json hosts = json::object();
    for (const auto& h : r.hosts)
        hosts[h.name] = host_json(h);
    return {
        {"type", "run"},
        {"schema_version", results_schema_version},
        {"tool", {{"name", "kperf-plan"}, {"version", r.tool_version}}},
        {"command_line", r.command_line},
        {"plan",
         {{"name", r.plan_name},
          {"file", r.plan_file},
          {"sha256", r.plan_sha256},
          {"text", r.plan_text},
          {"model", r.plan.is_null() ? json::object() : r.plan}}},
        {"started_at", r.started_at},
        {"hosts", hosts},
    };
}

json run_json_frame(const run_record& r) {
    json doc = run_header_json(r);
    doc["type"] = "results";
    doc["finished_at"] = r.finished_at.empty() ? json(nullptr) : json(r.finished_at);
    doc["status"] = to_string(r.status);
    doc["exit_code"] = r.exit_code ? json(*r.exit_code) : json(nullptr);
    doc["runner"] = {{"agents_setup_s", r.agents_setup_s}, {"max_rss_kib", r.max_rss_kib}};
    doc["instances"] = json::array();
    json summary = {{"instances", r.instances.size()}};
    for (instance_status s : all_instance_statuses)
        summary[to_string(s)] = static_cast<std::size_t>(std::count_if(
            r.instances.begin(), r.instances.end(), [s](const instance_record& i) { return i.status == s; }));
    doc["summary"] = summary;
    doc["baseline"] = r.baseline ? comparison_json(*r.baseline) : json(nullptr);
    return doc;
}

namespace {

std::string dump_text(const json& j) {
    return j.dump(2, ' ', false, json::error_handler_t::replace);
}

/// `text` (a dump with indent 2) moved `depth` spaces to the right after each line break.
std::string indented(const std::string& text, std::size_t depth) {
    std::string out;
    out.reserve(text.size() + text.size() / 16);
    for (char c : text) {
        out += c;
        if (c == '\n') out.append(depth, ' ');
    }
    return out;
}

} // namespace

json run_json(const run_record& r) {
    json doc = run_json_frame(r);
    json& instances = doc["instances"];
    for (const auto& i : r.instances)
        instances.push_back(instance_json(i));
    return doc;
}

void results_json_text::add(const json& instance) {
    instances_.push_back(indented(dump_text(instance), 4));
}

std::string results_json_text::text(const run_record& run) const {
    // As nlohmann's dump with indent 2: the frame's keys in order, the instances spliced in.
    const json frame = run_json_frame(run);
    std::size_t size = 4096;
    for (const auto& t : instances_)
        size += t.size() + 8;
    std::string out;
    out.reserve(size);
    out += "{";
    bool first = true;
    for (const auto& [key, value] : frame.items()) {
        out += first ? "\n  " : ",\n  ";
        first = false;
        out += dump_text(json(key)) + ": ";
        if (key != "instances") {
            out += indented(dump_text(value), 2);
        } else if (run.instances.empty()) {
            out += "[]";
        } else {
            out += "[";
            for (std::size_t i = 0; i < run.instances.size(); ++i) {
                out += i ? ",\n    " : "\n    ";
                // Instances never add()ed (skipped ones are not persisted) are serialized here.
                out += i < instances_.size() ? instances_[i]
                                             : indented(dump_text(instance_json(run.instances[i])), 4);
            }
            out += "\n  ]";
        }
    }
    out += "\n}\n";
    return out;
}

} // namespace kp::runner
