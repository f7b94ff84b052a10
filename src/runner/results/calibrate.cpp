#include "runner/results/calibrate.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/wire/codec.hpp"
#include "runner/plan/human.hpp"
#include "runner/results/compare.hpp"
#include "runner/results/stats.hpp"

namespace kp::runner {

using nlohmann::json;

namespace {

double median_of(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// The environment facts that make figures comparable; boot_id and addresses are not.
constexpr const char* manifest_keys[] = {"hostname", "kernel", "cpu_model", "cpu_count", "governor",
                                         "sysctls"};

} // namespace

std::string floor_text(double floor) {
    return floor > 10 ? std::string(">1000%") : fmt::format("{:.1f}%", floor * 100);
}

double noise_floor(std::span<const double> values) {
    const std::size_t n = values.size();
    if (n < 2) return 0;
    const double med = median_of({values.begin(), values.end()});
    if (med == 0) return 0;
    const bool positive = std::all_of(values.begin(), values.end(), [](double v) { return v > 0; });
    std::vector<double> x;
    for (double v : values)
        x.push_back(positive ? std::log(v / med) : v / std::abs(med) - 1);
    const summary_stats s = summarize(x);
    double worst = 0;
    for (double v : x)
        worst = std::max(worst, std::abs(v));
    const double half =
        std::max(student_t_995(n - 1) * s.stddev * std::sqrt(1 + 1.0 / static_cast<double>(n)), worst);
    return positive ? std::expm1(half) : half;
}

double noise_limit(metric m) {
    const double t = info(m).tolerance;
    return t > 0 ? 2 * t : 0.5;
}

double calibrated_tolerance(double uncalibrated) {
    return uncalibrated / 2;
}

calibration calibrate(std::span<const json> runs) {
    calibration c;
    c.runs = runs.size();
    if (!runs.empty()) c.hosts = host_manifests(runs.front());
    for (const auto& doc : runs)
        for (const auto& [id, inst] : instances_by_id(doc)) {
            const auto st = inst->value("status", std::string("ok"));
            if (st != "ok" && st != "expect_failed") continue; // a failed run has no figures
            if (auto t = inst->find("traffic"); t != inst->end() && t->is_string()) c.traffic[id] = *t;
            for (metric m : all_metrics())
                if (auto v = metric_value(*inst, m)) {
                    auto& n = c.instances[id][m];
                    n.values.push_back(v->first);
                    if (n.unit.empty()) n.unit = v->second;
                }
        }
    for (auto& [id, metrics] : c.instances)
        for (auto& [m, n] : metrics) {
            n.median = median_of(n.values);
            n.floor = noise_floor(n.values);
            // Measured by fewer runs than the rest: what noise it has cannot be told.
            n.too_noisy = n.values.size() < min_calibration_runs || n.floor > noise_limit(m);
        }
    return c;
}

json host_manifests(const json& results) {
    json out = json::object();
    auto hosts = results.find("hosts");
    if (hosts == results.end() || !hosts->is_object()) return out;
    for (const auto& [name, h] : hosts->items()) {
        if (!h.is_object() || !h.contains("environment") || !h["environment"].is_object()) continue;
        json m = json::object();
        for (const char* k : manifest_keys)
            if (h["environment"].contains(k)) m[k] = h["environment"][k];
        out[name] = m;
    }
    return out;
}

std::vector<std::string> manifest_differences(const json& calibrated, const json& fresh) {
    std::vector<std::string> out;
    const json now = host_manifests(fresh);
    auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
    for (const auto& [name, was] : calibrated.items()) {
        if (!now.contains(name)) continue; // a host NEW does not have: its instances are missing too
        const json& is = now[name];
        for (const auto& [k, v] : was.items()) {
            if (!is.contains(k)) continue;
            if (k == "sysctls" && v.is_object() && is[k].is_object()) {
                for (const auto& [s, sv] : v.items())
                    if (is[k].contains(s) && is[k][s] != sv)
                        out.push_back(fmt::format("host {}: sysctl {}: {} (baseline) -> {}", name, s, text(sv),
                                                  text(is[k][s])));
                continue;
            }
            if (is[k] != v)
                out.push_back(fmt::format("host {}: {}: {} (baseline) -> {}", name, k, text(v), text(is[k])));
        }
    }
    return out;
}

json calibration_json(const calibration& c) {
    json instances = json::object();
    for (const auto& [id, metrics] : c.instances) {
        json ms = json::object();
        for (const auto& [m, n] : metrics)
            ms[std::string(info(m).name)] = {{"values", n.values}, {"median", n.median}, {"floor", n.floor},
                                             {"too_noisy", n.too_noisy}, {"unit", n.unit}};
        instances[id] = ms;
        if (auto t = c.traffic.find(id); t != c.traffic.end()) instances[id]["traffic"] = t->second;
    }
    return {{"type", "kperf-plan-baseline"}, {"version", 1},        {"runs", c.runs},
            {"run_dirs", c.run_dirs},        {"hosts", c.hosts},    {"instances", instances}};
}

result<calibration> calibration_from_json(const json& doc) {
    if (!doc.is_object() || doc.value("type", "") != "kperf-plan-baseline" || !doc.contains("instances") ||
        !doc["instances"].is_object())
        return fail("not a kperf-plan baseline.json");
    calibration c;
    try {
        c.runs = doc.value("runs", std::size_t{0});
        if (doc.contains("run_dirs")) c.run_dirs = doc["run_dirs"].get<std::vector<std::string>>();
        if (doc.contains("hosts") && doc["hosts"].is_object()) c.hosts = doc["hosts"];
        for (const auto& [id, ms] : doc["instances"].items())
            for (const auto& [name, x] : ms.items()) {
                if (name == "traffic" && x.is_string()) {
                    c.traffic[id] = x.get<std::string>();
                    continue;
                }
                auto m = metric_from_name(name);
                if (!m) continue; // a metric of a later version
                metric_noise n;
                n.values = x.at("values").get<std::vector<double>>();
                n.median = x.at("median").get<double>();
                n.floor = x.at("floor").get<double>();
                n.too_noisy = x.at("too_noisy").get<bool>();
                n.unit = x.value("unit", "");
                c.instances[id][*m] = std::move(n);
            }
    } catch (const json::exception& e) {
        return fail(fmt::format("baseline.json: {}", e.what()));
    }
    return c;
}

std::string format_calibration(const calibration& c) {
    std::size_t w = 8;
    for (const auto& [id, _] : c.instances)
        w = std::max(w, id.size());
    std::string out = fmt::format("{:<{}}  {:<22} {:>13} {:>8}  {}\n", "instance", w, "metric", "median",
                                  "floor", "gate");
    std::size_t noisy = 0;
    for (const auto& [id, metrics] : c.instances)
        for (const auto& [m, n] : metrics) {
            // What compare does not gate by default (CPU seconds; rr's throughput_bps beside its
            // transactions) is left out.
            auto t = c.traffic.find(id);
            auto kind = t != c.traffic.end() ? engine::parse_traffic(t->second) : std::nullopt;
            const double tol = kind ? default_tolerance(*kind, m) : info(m).tolerance;
            if (info(m).direction == better::none || tol == 0) continue;
            noisy += n.too_noisy;
            out += fmt::format("{:<{}}  {:<22} {:>13} {:>8}  {}\n", id, w, info(m).name,
                               human_metric(m, n.median, n.unit), floor_text(n.floor),
                               n.too_noisy ? fmt::format("too noisy (limit {:.0f}%)", noise_limit(m) * 100)
                                           : "gated");
        }
    out += fmt::format("baseline: {} runs; {} metric(s) too noisy to gate on this machine\n", c.runs, noisy);
    return out;
}

} // namespace kp::runner
