#include "runner/results/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "engine/wire/codec.hpp"
#include "runner/plan/human.hpp"
#include "runner/results/exit_code.hpp"

namespace kp::runner {
namespace {

using nlohmann::json;

struct figure {
    double value = 0;
    std::optional<std::pair<double, double>> ci;
    std::string unit;
};

std::optional<figure> figure_of(const json& instance, metric m) {
    const json* metrics = nullptr;
    if (auto a = instance.find("aggregate"); a != instance.end() && a->is_object())
        if (auto ms = a->find("metrics"); ms != a->end() && ms->is_object()) metrics = &*ms;
    if (!metrics) return std::nullopt;
    auto it = metrics->find(std::string(info(m).name));
    if (it == metrics->end() || !it->is_object() || !it->contains("value") || !(*it)["value"].is_number())
        return std::nullopt;
    figure f;
    f.value = (*it)["value"].get<double>();
    if (auto u = it->find("unit"); u != it->end() && u->is_string()) f.unit = u->get<std::string>();
    if (auto ci = it->find("ci95"); ci != it->end() && ci->is_array() && ci->size() == 2)
        f.ci = std::pair((*ci)[0].get<double>(), (*ci)[1].get<double>());
    return f;
}

std::string status_of(const json& instance) {
    auto s = instance.find("status");
    return s != instance.end() && s->is_string() ? s->get<std::string>() : "ok";
}

std::string traffic_of(const json& instance) {
    auto t = instance.find("traffic");
    return t != instance.end() && t->is_string() ? t->get<std::string>() : std::string();
}

bool measured(const std::string& status) {
    return status == "ok" || status == "expect_failed";
}

std::map<std::string, const json*> by_id(const json& doc) {
    std::map<std::string, const json*> out;
    if (!doc.contains("instances") || !doc["instances"].is_array()) return out;
    auto add = [&out](const json& i) {
        if (i.is_object() && i.contains("id") && i["id"].is_string()) out[i["id"].get<std::string>()] = &i;
    };
    for (const auto& i : doc["instances"]) {
        add(i);
        // A group's members compare as instances of their own ("rrul/probe").
        if (i.is_object() && i.contains("group") && i["group"].is_object() &&
            i["group"].contains("members") && i["group"]["members"].is_array())
            for (const auto& m : i["group"]["members"])
                add(m);
    }
    return out;
}

metric_delta judge(const std::string& id, metric m, const figure& b, const figure& f, double tolerance) {
    metric_delta d;
    d.instance = id;
    d.which = m;
    d.base = b.value;
    d.fresh = f.value;
    d.tolerance = tolerance;
    d.base_ci = b.ci;
    d.fresh_ci = f.ci;
    d.unit = f.unit;
    if (b.value != 0)
        d.change = (f.value - b.value) / std::abs(b.value);
    else
        d.change = f.value == 0 ? 0 : std::copysign(1.0, f.value) * HUGE_VAL;
    bool higher = info(m).direction == better::higher;
    bool worse = higher ? d.change < -tolerance : d.change > tolerance;
    bool nicer = higher ? d.change > tolerance : d.change < -tolerance;
    // Without a CI (one repeat) an interval shrinks to its point: the tolerance alone decides.
    auto [bl, bh] = b.ci.value_or(std::pair(b.value, b.value));
    auto [fl, fh] = f.ci.value_or(std::pair(f.value, f.value));
    bool below = fh<bl, above = fl> bh;
    bool worse_apart = higher ? below : above;
    bool nicer_apart = higher ? above : below;
    if (worse && worse_apart)
        d.outcome = verdict::regression;
    else if (nicer && nicer_apart)
        d.outcome = verdict::improvement;
    else if (worse || nicer)
        d.outcome = verdict::noise;
    return d;
}

const char* verdict_name(verdict v) {
    switch (v) {
    case verdict::same:
        return "ok";
    case verdict::noise:
        return "within CI";
    case verdict::regression:
        return "REGRESSION";
    case verdict::improvement:
        return "improved";
    }
    return "?";
}

std::string pct(double change) {
    if (std::isinf(change)) return change > 0 ? "+inf" : "-inf";
    return fmt::format("{:+.1f}%", change * 100);
}

} // namespace

bool comparison_report::regressed() const {
    return std::any_of(rows.begin(), rows.end(),
                       [](const auto& r) { return r.outcome == verdict::regression; });
}

result<tolerance_map> parse_tolerances(const std::vector<std::string>& items) {
    tolerance_map out;
    for (const auto& item : items) {
        auto usage = [&](const std::string& why) {
            error e = make_error(fmt::format("--tolerance {}: {}", item, why));
            e.kind = error_kind::usage;
            return fail(e);
        };
        auto eq = item.find('=');
        if (eq == std::string::npos) return usage("expected METRIC=PERCENT, e.g. throughput_bps=5%");
        auto m = metric_from_name(item.substr(0, eq));
        if (!m) return usage(fmt::format("unknown metric '{}'", item.substr(0, eq)));
        std::string value = item.substr(eq + 1);
        bool percent = value.ends_with('%');
        if (percent) value.pop_back();
        char* end = nullptr;
        double v = value.empty() ? -1 : std::strtod(value.c_str(), &end);
        if (value.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
            return usage("expected a non-negative percentage such as 5% or a fraction such as 0.05");
        out[*m] = percent ? v / 100 : v;
    }
    return out;
}

result<json> load_results(const std::string& path) {
    std::filesystem::path p(path);
    if (std::filesystem::is_directory(p))
        p = std::filesystem::exists(p / "results.json") ? p / "results.json" : p / "results.jsonl";
    std::ifstream in(p);
    if (!in) return fail(fmt::format("{}: cannot open", p.string()));
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (p.extension() != ".jsonl") {
        json doc = json::parse(text, nullptr, false);
        if (doc.is_discarded() || !doc.is_object() || !doc.contains("instances"))
            return fail(fmt::format("{}: not a kperf-plan results.json", p.string()));
        return doc;
    }
    // results.jsonl: a run header line, then one instance per line; a torn last line is skipped.
    json doc = {{"instances", json::array()}};
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        json v = json::parse(line, nullptr, false);
        if (v.is_discarded() || !v.is_object()) continue;
        if (v.value("type", "") == "instance") doc["instances"].push_back(v);
        // The header gives what results.json would: the plan, tool, hosts and start. A killed run
        // has no end, so it reads as still running.
        if (v.value("type", "") == "run")
            for (const auto& [k, x] : v.items())
                if (k != "type") doc[k] = x;
    }
    if (!doc.contains("status")) doc["status"] = "running";
    return doc;
}

comparison_report compare_results(const json& base, const json& fresh, const tolerance_map& tolerances) {
    comparison_report r;
    auto b = by_id(base), f = by_id(fresh);
    for (const auto& [id, _] : b)
        if (!f.contains(id)) r.missing_in_fresh.push_back(id);
    for (const auto& [id, fi] : f) {
        auto bit = b.find(id);
        if (bit == b.end()) {
            r.missing_in_base.push_back(id);
            continue;
        }
        std::string bs = status_of(*bit->second), fs = status_of(*fi);
        if (!measured(bs) || !measured(fs)) {
            r.not_comparable.push_back(fmt::format("{}: {} in BASE, {} in NEW", id, bs, fs));
            continue;
        }
        // A group ("traffic": "group") or an unknown kind keeps the table's defaults.
        auto kind = engine::parse_traffic(traffic_of(*fi));
        for (metric m : all_metrics()) {
            auto t = tolerances.find(m);
            double tol = t != tolerances.end() ? t->second
                         : kind                ? default_tolerance(*kind, m)
                                               : info(m).tolerance;
            if (info(m).direction == better::none || (t == tolerances.end() && tol == 0)) continue;
            auto bf = figure_of(*bit->second, m), ff = figure_of(*fi, m);
            if (bf && ff) r.rows.push_back(judge(id, m, *bf, *ff, tol));
        }
    }
    return r;
}

std::string format_comparison(const comparison_report& r) {
    std::size_t w = 8;
    for (const auto& d : r.rows)
        w = std::max(w, d.instance.size());
    std::string out = fmt::format("{:<{}}  {:<18} {:>13} {:>13} {:>13} {:>9} {:>6}  {}\n", "instance", w,
                                  "metric", "base", "new", "delta", "change", "tol", "verdict");
    for (const auto& d : r.rows) {
        auto text = [&d](double v) { return human_metric(d.which, v, d.unit); };
        const double delta = d.fresh - d.base;
        out += fmt::format("{:<{}}  {:<18} {:>13} {:>13} {:>13} {:>9} {:>5.0f}%  {}\n", d.instance, w,
                           info(d.which).name, text(d.base), text(d.fresh), plus_sign(delta, text(delta)),
                           pct(d.change), d.tolerance * 100, verdict_name(d.outcome));
    }
    for (const auto& id : r.missing_in_fresh)
        out += fmt::format("missing in NEW: {}\n", id);
    for (const auto& id : r.missing_in_base)
        out += fmt::format("missing in BASE: {}\n", id);
    for (const auto& s : r.not_comparable)
        out += fmt::format("not comparable: {}\n", s);
    std::size_t n = std::count_if(r.rows.begin(), r.rows.end(),
                                  [](const auto& d) { return d.outcome == verdict::regression; });
    out += n ? fmt::format("compare: {} regression{}\n", n, n == 1 ? "" : "s") : "compare: no regression\n";
    return out;
}

json comparison_json(const comparison_report& r) {
    json rows = json::array();
    for (const auto& d : r.rows) {
        auto ci = [](const auto& c) { return c ? json::array({c->first, c->second}) : json(nullptr); };
        rows.push_back({{"instance", d.instance},
                        {"metric", info(d.which).name},
                        {"base", d.base},
                        {"new", d.fresh},
                        {"unit", d.unit},
                        {"change", std::isinf(d.change) ? json(nullptr) : json(d.change)},
                        {"tolerance", d.tolerance},
                        {"base_ci95", ci(d.base_ci)},
                        {"new_ci95", ci(d.fresh_ci)},
                        {"verdict", verdict_name(d.outcome)}});
    }
    return {{"rows", rows},
            {"missing_in_base", r.missing_in_base},
            {"missing_in_new", r.missing_in_fresh},
            {"not_comparable", r.not_comparable},
            {"regressed", r.regressed()}};
}

int compare_main(const std::string& base, const std::string& fresh,
                 const std::vector<std::string>& tolerances) {
    auto tol = parse_tolerances(tolerances);
    if (!tol) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", tol.error().message);
        return exit_usage;
    }
    auto b = load_results(base);
    auto f = b ? load_results(fresh) : b;
    if (!b || !f) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", (!b ? b : f).error().message);
        return exit_usage;
    }
    auto report = compare_results(*b, *f, *tol);
    fmt::print("{}", format_comparison(report));
    return report.regressed() ? exit_failed : exit_ok;
}

} // namespace kp::runner
