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
#include "runner/results/calibrate.hpp"
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

/// A row of `id`'s `m`: base, new and the relative change (infinite from a zero base).
metric_delta delta_of(const std::string& id, metric m, double base, const figure& f, double tolerance) {
    metric_delta d;
    d.instance = id;
    d.which = m;
    d.base = base;
    d.fresh = f.value;
    d.tolerance = tolerance;
    d.unit = f.unit;
    if (base != 0)
        d.change = (f.value - base) / std::abs(base);
    else
        d.change = f.value == 0 ? 0 : std::copysign(1.0, f.value) * HUGE_VAL;
    return d;
}

metric_delta judge(const std::string& id, metric m, const figure& b, const figure& f, double tolerance) {
    metric_delta d = delta_of(id, m, b.value, f, tolerance);
    d.base_ci = b.ci;
    d.fresh_ci = f.ci;
    // An explicit tolerance gates a metric without a direction (CPU seconds): less is better.
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

/// Against a calibration: the runs' median, and the floor as well as the tolerance.
metric_delta judge_calibrated(const std::string& id, metric m, const metric_noise& n, const figure& f,
                              double tolerance) {
    metric_delta d = delta_of(id, m, n.median, f, tolerance);
    d.floor = n.floor;
    const bool higher = info(m).direction == better::higher;
    const double bad = higher ? -d.change : d.change;
    // The floor is a spread of ln(value) (calibrate.hpp), so it is applied on that scale: a
    // floor of 350% still lets a fall to a tenth through, where 1 - x can never exceed it.
    bool beyond_floor = std::abs(d.change) > n.floor;
    if (n.median > 0 && f.value > 0)
        beyond_floor = std::abs(std::log(f.value / n.median)) > std::log1p(n.floor);
    if (bad > tolerance && beyond_floor)
        d.outcome = verdict::regression;
    else if (-bad > tolerance && beyond_floor)
        d.outcome = verdict::improvement;
    else if (std::abs(bad) > tolerance)
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
    case verdict::too_noisy:
        return "too noisy";
    case verdict::unconfirmed:
        return "not confirmed";
    }
    return "?";
}

std::string pct(double change) {
    if (std::isinf(change)) return change > 0 ? "+inf" : "-inf";
    return fmt::format("{:+.1f}%", change * 100);
}

} // namespace

std::map<std::string, const json*> instances_by_id(const json& doc) {
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

std::string join_ids(const std::vector<std::string>& ids) {
    std::string out;
    for (const auto& id : ids)
        out += (out.empty() ? "" : ", ") + id;
    return out;
}

std::optional<std::pair<double, std::string>> metric_value(const json& instance, metric m) {
    auto f = figure_of(instance, m);
    if (!f) return std::nullopt;
    return std::pair(f->value, f->unit);
}

std::vector<std::string> comparison_report::regressed_instances() const {
    std::vector<std::string> out;
    for (const auto& r : rows)
        if (r.outcome == verdict::regression && std::find(out.begin(), out.end(), r.instance) == out.end())
            out.push_back(r.instance);
    return out;
}

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
        if (eq == std::string::npos) return usage("expected METRIC=PERCENT, e.g. throughput_bps=5%, or METRIC=off");
        auto g = parse_gate(item.substr(0, eq), item.substr(eq + 1));
        if (!g) return usage(g.error());
        out[g->which] = g->tolerance;
    }
    return out;
}

result<json> load_results(const std::string& path) {
    std::filesystem::path p(path);
    if (std::filesystem::is_directory(p))
        p = std::filesystem::exists(p / "results.json") ? p / "results.json" : p / "results.jsonl";
    // A FIFO or a device would block the read for ever (or never end): only regular files.
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return fail(fmt::format("{}: cannot open", p.string()));
    if (!std::filesystem::is_regular_file(p, ec))
        return fail(fmt::format("{}: not a regular file (a results.json, a results.jsonl or a results directory)",
                                p.string()));
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

namespace {

/// NEW's `gate:` of an instance as recorded, parsed (entries that do not parse are skipped:
/// the plan was checked when it ran).
tolerance_map gate_of(const json& instance) {
    tolerance_map out;
    auto g = instance.find("gate");
    if (g == instance.end() || !g->is_object()) return out;
    for (const auto& [name, text] : g->items())
        if (text.is_string())
            if (auto e = parse_gate(name, text.get<std::string>())) out[e->which] = e->tolerance;
    return out;
}

} // namespace

std::optional<std::string> nothing_matched(const json& base, const json& fresh) {
    auto b = instances_by_id(base), f = instances_by_id(fresh);
    for (const auto& [id, _] : f)
        if (b.contains(id)) return std::nullopt;
    auto list = [](const std::map<std::string, const json*>& m) {
        if (m.empty()) return std::string("no instances");
        std::string out;
        std::size_t n = 0;
        for (const auto& [id, _] : m) {
            if (n == 8) return out + fmt::format(", ... ({} in all)", m.size());
            out += (n++ ? ", " : "") + id;
        }
        return out;
    };
    return fmt::format("no instance is in both: BASE has {}; NEW has {}", list(b), list(f));
}

comparison_report compare_results(const json& base, const json& fresh, const tolerance_map& tolerances,
                                  const calibration* cal) {
    comparison_report r;
    auto b = instances_by_id(base), f = instances_by_id(fresh);
    if (cal) {
        r.calibrated_runs = cal->runs;
        r.host_changes = manifest_differences(cal->hosts, fresh);
    } else if (base.contains("hosts")) {
        r.host_changes = manifest_differences(host_manifests(base), fresh);
    }
    for (const auto& [id, _] : b)
        if (!f.contains(id)) r.missing_in_fresh.push_back(id);
    for (const auto& [id, fi] : f) {
        auto bit = b.find(id);
        if (bit == b.end()) {
            r.missing_in_base.push_back(id);
            continue;
        }
        r.matched.push_back(id);
        std::string bs = status_of(*bit->second), fs = status_of(*fi);
        if (!measured(bs) || !measured(fs)) {
            r.not_comparable.push_back(fmt::format("{}: {} in BASE, {} in NEW", id, bs, fs));
            continue;
        }
        const std::map<metric, metric_noise>* noise = nullptr;
        if (cal) {
            auto c = cal->instances.find(id);
            if (c == cal->instances.end()) {
                r.not_comparable.push_back(fmt::format("{}: not measured by the calibration runs", id));
                continue;
            }
            noise = &c->second;
        }
        const tolerance_map gate = gate_of(*fi);
        // A group ("traffic": "group") or an unknown kind keeps the table's defaults.
        auto kind = engine::parse_traffic(traffic_of(*fi));
        for (metric m : all_metrics()) {
            // --tolerance, then the instance's gate:, then the default.
            auto t = tolerances.find(m);
            if (t == tolerances.end()) t = gate.find(m);
            const bool explicit_tol = t != tolerances.end() && t != gate.end();
            if (explicit_tol && !t->second) continue; // off
            double tol = explicit_tol ? *t->second : kind ? default_tolerance(*kind, m) : info(m).tolerance;
            if (!explicit_tol && (info(m).direction == better::none || tol == 0)) continue;
            auto ff = figure_of(*fi, m);
            if (!ff) continue;
            if (noise) {
                auto n = noise->find(m);
                if (n == noise->end()) continue;
                if (!explicit_tol) tol = calibrated_tolerance(tol);
                metric_delta d = judge_calibrated(id, m, n->second, *ff, tol);
                // A noisy metric is shown, not gated, unless a tolerance asks for it.
                if (n->second.too_noisy && !explicit_tol) d.outcome = verdict::too_noisy;
                r.rows.push_back(std::move(d));
                continue;
            }
            auto bf = figure_of(*bit->second, m);
            if (bf) r.rows.push_back(judge(id, m, *bf, *ff, tol));
        }
    }
    return r;
}

std::string format_comparison(const comparison_report& r) {
    std::size_t w = 8;
    for (const auto& d : r.rows)
        w = std::max(w, d.instance.size());
    std::string out;
    if (r.calibrated_runs > 0)
        out += fmt::format("baseline: calibrated on {} runs (base: their median; floor: their noise)\n",
                           r.calibrated_runs);
    for (const auto& h : r.host_changes)
        out += fmt::format("warning: NEW ran elsewhere than the baseline: {}\n", h);
    const bool floors = r.calibrated_runs > 0;
    out += fmt::format("{:<{}}  {:<18} {:>13} {:>13} {:>13} {:>9} {:>6}{}  {}\n", "instance", w, "metric", "base",
                       "new", "delta", "change", "tol", floors ? fmt::format(" {:>7}", "floor") : "", "verdict");
    for (const auto& d : r.rows) {
        auto text = [&d](double v) { return human_metric(d.which, v, d.unit); };
        const double delta = d.fresh - d.base;
        out += fmt::format("{:<{}}  {:<18} {:>13} {:>13} {:>13} {:>9} {:>5}%{}  {}\n", d.instance, w,
                           info(d.which).name, text(d.base), text(d.fresh), plus_sign(delta, text(delta)),
                           pct(d.change), fmt::format("{:.3g}", d.tolerance * 100),
                           floors ? fmt::format(" {:>7}", floor_text(d.floor.value_or(0))) : "",
                           d.outcome == verdict::noise && d.floor ? "within noise" : verdict_name(d.outcome));
    }
    for (const auto& id : r.missing_in_fresh)
        out += fmt::format("missing in NEW: {}\n", id);
    for (const auto& id : r.missing_in_base)
        out += fmt::format("missing in BASE: {}\n", id);
    for (const auto& s : r.not_comparable)
        out += fmt::format("not comparable: {}\n", s);
    for (const auto& a : r.confirmations)
        out += fmt::format("confirmation {}: reran {}; still regressed: {}\n", a.attempt, join_ids(a.ids),
                           a.persists.empty() ? std::string("none") : join_ids(a.persists));
    std::size_t n = std::count_if(r.rows.begin(), r.rows.end(),
                                  [](const auto& d) { return d.outcome == verdict::regression; });
    std::size_t noisy = std::count_if(r.rows.begin(), r.rows.end(),
                                      [](const auto& d) { return d.outcome == verdict::too_noisy; });
    std::string tail = noisy ? fmt::format(" ({} row{} too noisy to gate)", noisy, noisy == 1 ? "" : "s") : "";
    out += n ? fmt::format("compare: {} regression{}{}\n", n, n == 1 ? "" : "s", tail)
             : fmt::format("compare: no regression{}\n", tail);
    return out;
}

json delta_json(const metric_delta& d) {
    auto ci = [](const auto& c) { return c ? json::array({c->first, c->second}) : json(nullptr); };
    json row = {{"instance", d.instance},
                {"metric", info(d.which).name},
                {"base", d.base},
                {"new", d.fresh},
                {"unit", d.unit},
                {"change", std::isinf(d.change) ? json(nullptr) : json(d.change)},
                {"tolerance", d.tolerance},
                {"base_ci95", ci(d.base_ci)},
                {"new_ci95", ci(d.fresh_ci)},
                {"verdict", verdict_name(d.outcome)}};
    if (d.floor) row["noise_floor"] = *d.floor;
    return row;
}

json comparison_json(const comparison_report& r) {
    json rows = json::array();
    for (const auto& d : r.rows)
        rows.push_back(delta_json(d));
    json confirmations = json::array();
    for (const auto& a : r.confirmations) {
        json arows = json::array();
        for (const auto& d : a.rows)
            arows.push_back(delta_json(d));
        confirmations.push_back({{"attempt", a.attempt},
                                 {"instances", a.ids},
                                 {"still_regressed", a.persists},
                                 {"rows", arows},
                                 {"records", a.instances}});
    }
    return {{"rows", rows},
            {"missing_in_base", r.missing_in_base},
            {"missing_in_new", r.missing_in_fresh},
            {"not_comparable", r.not_comparable},
            {"calibrated_runs", r.calibrated_runs},
            {"host_changes", r.host_changes},
            {"confirmations", confirmations},
            {"regressed", r.regressed()}};
}

void confirm_with(comparison_report& report, const comparison_report& rerun, confirmation_attempt a) {
    a.ids = report.regressed_instances();
    auto again = [&](const metric_delta& d) {
        return std::any_of(rerun.rows.begin(), rerun.rows.end(), [&](const metric_delta& r) {
            return r.instance == d.instance && r.which == d.which && r.outcome == verdict::regression;
        });
    };
    for (const auto& r : rerun.rows)
        if (std::find(a.ids.begin(), a.ids.end(), r.instance) != a.ids.end()) a.rows.push_back(r);
    for (auto& d : report.rows)
        if (d.outcome == verdict::regression && !again(d)) d.outcome = verdict::unconfirmed;
    a.persists = report.regressed_instances();
    report.confirmations.push_back(std::move(a));
}

result<baseline_source> load_baseline(const std::vector<std::string>& paths) {
    baseline_source out;
    if (paths.size() == 1) {
        std::filesystem::path dir(paths[0]);
        if (std::filesystem::is_directory(dir) && std::filesystem::is_regular_file(dir / "baseline.json")) {
            std::ifstream in(dir / "baseline.json");
            json doc = json::parse(in, nullptr, false);
            auto cal = calibration_from_json(doc);
            if (!cal) return fail(fmt::format("{}: {}", (dir / "baseline.json").string(), cal.error().message));
            if (cal->run_dirs.empty()) return fail(fmt::format("{}: no runs", (dir / "baseline.json").string()));
            auto first = load_results((dir / cal->run_dirs.front()).string());
            if (!first) return fail(first.error());
            out.doc = std::move(*first);
            out.cal = std::make_shared<calibration>(std::move(*cal));
            return out;
        }
        auto doc = load_results(paths[0]);
        if (!doc) return fail(doc.error());
        out.doc = std::move(*doc);
        return out;
    }
    if (paths.size() < min_calibration_runs)
        return fail(fmt::format("calibrating needs at least {} BASE runs, got {}", min_calibration_runs,
                                paths.size()));
    std::vector<json> runs;
    for (const auto& p : paths) {
        auto doc = load_results(p);
        if (!doc) return fail(doc.error());
        runs.push_back(std::move(*doc));
    }
    calibration cal = calibrate(runs);
    cal.run_dirs = paths;
    out.doc = std::move(runs.front());
    out.cal = std::make_shared<calibration>(std::move(cal));
    return out;
}

int compare_main(const std::vector<std::string>& bases, const std::string& fresh,
                 const std::vector<std::string>& tolerances) {
    auto tol = parse_tolerances(tolerances);
    if (!tol) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", tol.error().message);
        return exit_usage;
    }
    auto b = load_baseline(bases);
    if (!b) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", b.error().message);
        return exit_usage;
    }
    auto f = load_results(fresh);
    if (!f) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", f.error().message);
        return exit_usage;
    }
    if (auto none = nothing_matched(b->doc, *f)) {
        fmt::print(stderr, "kperf-plan: compare: {}\n", *none);
        return exit_usage;
    }
    auto report = compare_results(b->doc, *f, *tol, b->cal.get());
    fmt::print("{}", format_comparison(report));
    return report.regressed() ? exit_failed : exit_ok;
}

} // namespace kp::runner
