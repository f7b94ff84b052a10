#include "runner/report/html.hpp"
#include "runner/report/junit.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "engine/traffic/traffic.hpp"
#include "engine/wire/codec.hpp"
#include "runner/plan/expect.hpp"
#include "runner/plan/human.hpp"
#include "runner/plan/units.hpp"
#include "runner/report/progress.hpp"
#include "runner/report/summary.hpp"
#include "runner/results/expect_eval.hpp"
#include "runner/results/metrics.hpp"

namespace kp::runner {

std::string_view report_js_source();  // src/runner/report/report.js, compiled in
std::string_view report_css_source(); // src/runner/report/report.css, compiled in

namespace {

using nlohmann::json;

/// Instances whose section is open (and drawn) when the page loads; the others draw when opened,
/// so a report of 1,000 instances opens quickly.
constexpr std::size_t open_sections = 40;
/// Repeats drawn in the time series (the rest are in results.json).
constexpr std::size_t max_series = 8;

/// HTML text and attribute values: the same five entities as XML (&apos; is HTML5 too).
std::string esc(std::string_view s) {
    return xml_escape(s);
}

std::string str(const json& j, const char* key, const std::string& fallback = "") {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::optional<double> num(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
}

const json& member(const json& j, const char* key) {
    static const json null_json;
    if (!j.is_object()) return null_json;
    auto it = j.find(key);
    return it != j.end() ? *it : null_json;
}

/// An aggregate's metric values (the `value` of each), as the summary reads them.
metric_values values_of(const json& aggregate) {
    metric_values v;
    const json& ms = member(aggregate, "metrics");
    if (!ms.is_object()) return v;
    for (metric m : all_metrics())
        if (auto x = num(member(ms, std::string(info(m).name).c_str()), "value"))
            v[static_cast<std::size_t>(m)] = *x;
    return v;
}

std::optional<instance_status> status_from(const std::string& s) {
    for (instance_status st : all_instance_statuses)
        if (s == to_string(st)) return st;
    return std::nullopt;
}

/// A check read back from results.json, for describe_check().
check_result check_from(const json& c) {
    check_result r;
    r.metric = str(c, "metric");
    r.text = str(c, "text");
    r.bound = num(c, "bound").value_or(0);
    const std::string op = str(c, "op");
    for (comparison k : {comparison::lt, comparison::le, comparison::gt, comparison::ge})
        if (symbol(k) == op) r.op = k;
    r.measured = num(c, "measured");
    if (const json& ci = member(c, "ci95"); ci.is_array() && ci.size() == 2 && ci[0].is_number())
        r.ci = std::pair(ci[0].get<double>(), ci[1].get<double>());
    r.passed = member(c, "passed").is_boolean() && c["passed"].get<bool>();
    return r;
}

/// A matrix value as a number for the matrix charts, with its unit ("" for a count): 64 (bytes
/// for a *_size), 16KiB, 10k/s, 1Gbit/s, 500ms; none otherwise.
std::optional<std::pair<double, std::string>> numeric(const std::string& name, const std::string& v) {
    if (auto n = parse_number(v)) {
        const bool bytes = name.ends_with("_size") || name == "sndbuf" || name == "rcvbuf";
        return std::pair(*n, std::string(bytes ? "bytes" : ""));
    }
    if (auto s = parse_size(v)) return std::pair(static_cast<double>(*s), std::string("bytes"));
    if (auto r = parse_rate(v); r && r->how != rate::unit::unlimited)
        return std::pair(r->value, std::string(r->how == rate::unit::per_second ? "1/s" : "bit/s"));
    if (auto d = parse_duration(v))
        return std::pair(std::chrono::duration<double>(*d).count(), std::string("s"));
    return std::nullopt;
}

/// The percentile curve of a serialized histogram on the "nines" scale: x = -log10(1 - p/100)
/// (0 = p0, 1 = p90, 2 = p99, ...) up to the last value that has a sample behind it; y in µs.
json percentile_curve(const json& h) {
    json out = json::array();
    if (!h.is_object() || num(h, "count").value_or(0) <= 0) return out;
    engine::histogram hist;
    try {
        hist = h.get<engine::histogram>();
    } catch (const std::exception&) {
        return out;
    }
    const double top = std::min(6.0, std::log10(static_cast<double>(hist.count())));
    for (double x = 0; x <= top + 1e-9; x += 0.05) {
        const double p = 100.0 * (1.0 - std::pow(10.0, -x));
        out.push_back(
            {std::round(x * 100) / 100, static_cast<double>(hist.percentile(std::max(p, 1e-9))) / 1e3});
    }
    out.push_back({std::round(top * 100) / 100 + 0.05, static_cast<double>(hist.max()) / 1e3}); // the max
    return out;
}

/// Per repeat, the client's per-second samples: t, rate (bit/s for streams, else 1/s), p50, p99.
json series_of(const json& repeats, bool stream) {
    json out = json::array();
    if (!repeats.is_array()) return out;
    for (const auto& rep : repeats) {
        if (out.size() == max_series) break;
        const json& samples = member(member(rep, "client"), "samples");
        if (!samples.is_array() || samples.empty()) continue;
        json t = json::array(), rate = json::array(), p50 = json::array(), p99 = json::array();
        double prev = 0;
        bool any_latency = false;
        for (const auto& s : samples) {
            const double ts = num(s, "t").value_or(prev + 1);
            const double dt = ts - prev > 1e-6 ? ts - prev : 1;
            prev = ts;
            t.push_back(ts);
            rate.push_back(stream ? num(s, "bytes").value_or(0) * 8 / dt
                                  : num(s, "transactions").value_or(0) / dt);
            auto a = num(s, "latency_p50_us"), b = num(s, "latency_p99_us");
            any_latency = any_latency || a;
            p50.push_back(a ? json(*a) : json(nullptr));
            p99.push_back(b ? json(*b) : json(nullptr));
        }
        json r = {{"repeat", num(rep, "index").value_or(0)}, {"t", t}, {"rate", rate}};
        if (any_latency) {
            r["p50"] = p50;
            r["p99"] = p99;
        }
        out.push_back(r);
    }
    return out;
}

json search_view(const json& s) {
    json probes = json::array();
    std::string slo_metric, slo_text;
    for (const auto& p : member(s, "probes")) {
        std::optional<double> measured;
        bool first = true;
        for (const auto& o : member(p, "slo")) {
            if (!first) break; // the first objective is the one drawn; all decide `passed`
            first = false;
            slo_metric = str(o, "metric");
            slo_text = str(o, "text");
            measured = num(o, "measured");
        }
        probes.push_back({{"offered", num(p, "offered").value_or(0)},
                          {"achieved", num(p, "achieved").value_or(0)},
                          {"measured", measured ? json(*measured) : json(nullptr)},
                          {"passed", member(p, "passed").is_boolean() && p["passed"].get<bool>()},
                          {"phase", str(p, "phase")}});
    }
    json slo = nullptr;
    if (!slo_metric.empty()) {
        slo = {{"metric", slo_metric}, {"text", slo_text}};
        if (auto e = parse_expectation(slo_metric, slo_text)) {
            slo["bound"] = e->bound;
            slo["metric"] = e->metric;
            if (auto m = metric_from_name(e->metric)) slo["unit"] = info(*m).unit;
        }
    }
    return {{"probes", probes},
            {"slo", slo},
            {"peak", member(s, "peak")},
            {"bracket", member(s, "bracket")},
            {"outcome", str(s, "outcome")},
            {"stopped", str(s, "stopped")}};
}

/// The cells of the summary row and the lines under the table, as the terminal prints them.
json row_of(const json& inst, std::optional<engine::traffic> kind, const metric_values& v) {
    const bool group = member(inst, "group").is_object();
    const auto status = status_from(str(inst, "status"));
    const auto c = v[static_cast<std::size_t>(metric::client_cpu_s)];
    const auto s = v[static_cast<std::size_t>(metric::server_cpu_s)];
    json lines = json::array();
    for (const auto& chk : member(inst, "checks"))
        if (!(member(chk, "passed").is_boolean() && chk["passed"].get<bool>()))
            lines.push_back(
                fmt::format("FAIL {}: {}", str(inst, "id"), describe_check(check_from(chk), kind)));
    if (const json& f = member(inst, "failure"); f.is_object())
        lines.push_back(
            fmt::format("ERROR {}: {}", str(inst, "id"),
                        describe(failure_reason{str(f, "host"), str(f, "step"), str(f, "error")})));
    const json& repeats = member(inst, "repeats");
    return {{"traffic", str(inst, "traffic")},
            {"n", repeats.is_array() ? repeats.size() : 0},
            {"headline", group  ? headline(engine::traffic::tcp_stream, v, true) // the kind is not read
                         : kind ? headline(*kind, v, false)
                                : std::string("-")},
            {"cpu", c && s ? cpu_cell(*c, *s) : std::string("-")},
            {"result", status ? outcome_word(*status) : "?"},
            {"lines", lines}};
}

json view_of(const json& inst) {
    json v = json::object();
    v["id"] = str(inst, "id");
    v["scenario"] = str(inst, "scenario");
    v["status"] = str(inst, "status");
    v["traffic"] = str(inst, "traffic");
    json params = json::object(), nums = json::object(), units = json::object();
    if (const json& ps = member(inst, "parameters"); ps.is_object())
        for (const auto& [k, val] : ps.items()) {
            const std::string s = val.is_string() ? val.get<std::string>() : val.dump();
            params[k] = s;
            if (auto n = numeric(k, s)) {
                nums[k] = n->first;
                if (!n->second.empty()) units[k] = n->second;
            }
        }
    v["params"] = params;
    v["num"] = nums;
    v["num_unit"] = units;
    const auto kind = engine::parse_traffic(str(inst, "traffic"));
    const json& agg = member(inst, "aggregate");
    const metric_values values = values_of(agg);
    v["row"] = row_of(inst, kind, values);
    if (kind) {
        const metric h = headline_metric(*kind);
        v["headline"] = {{"metric", info(h).name}, {"unit", info(h).unit}};
        if (auto x = values[static_cast<std::size_t>(h)]) v["headline"]["value"] = *x;
        const bool stream = engine::info(*kind).stream();
        v["rate_label"] = stream ? "throughput [bit/s]" : "transactions [1/s]";
        v["series"] = series_of(member(inst, "repeats"), stream);
        v["demand_unit"] = engine::info(*kind).service_demand_unit;
    }
    v["pct"] = percentile_curve(member(agg, "latency_histogram"));
    // CPU: busy seconds over the window per host, and service demand (CPU per unit of work).
    json cpu = json::array();
    auto get = [&values](metric m) { return values[static_cast<std::size_t>(m)]; };
    if (auto c = get(metric::client_cpu_s))
        cpu.push_back(
            {{"host", str(inst, "client_host")},
             {"role", "client"},
             {"cpu_s", *c},
             {"demand", get(metric::client_service_demand) ? json(*get(metric::client_service_demand))
                                                           : json(nullptr)}});
    if (auto s = get(metric::server_cpu_s))
        cpu.push_back(
            {{"host", str(inst, "server_host")},
             {"role", "server"},
             {"cpu_s", *s},
             {"demand", get(metric::server_service_demand) ? json(*get(metric::server_service_demand))
                                                           : json(nullptr)}});
    for (const auto& h : member(inst, "hops"))
        cpu.push_back({{"host", str(h, "host")},
                       {"role", "proxy"},
                       {"cpu_s", num(h, "cpu_s").value_or(0)},
                       {"demand", member(h, "service_demand")}});
    v["cpu"] = cpu;
    if (const json& s = member(inst, "search"); s.is_object()) v["search"] = search_view(s);
    if (const json& d = member(inst, "direct"); d.is_object()) {
        const metric_values dv = values_of(member(d, "aggregate"));
        auto lat = [](const metric_values& x, metric m) {
            auto y = x[static_cast<std::size_t>(m)];
            return y ? json(*y) : json(nullptr);
        };
        json hops = json::array();
        for (const auto& h : member(inst, "hops"))
            hops.push_back({{"host", str(h, "host")},
                            {"cpu_s", num(h, "cpu_s").value_or(0)},
                            {"process_cpu_s", num(h, "process_cpu_s").value_or(0)}});
        v["via"] = {
            {"chain", {{"p50", lat(values, metric::latency_p50)}, {"p99", lat(values, metric::latency_p99)}}},
            {"direct", {{"p50", lat(dv, metric::latency_p50)}, {"p99", lat(dv, metric::latency_p99)}}},
            {"hops", hops},
            {"direct_pct", percentile_curve(member(member(d, "aggregate"), "latency_histogram"))}};
    } else if (member(inst, "hops").is_array()) {
        json hops = json::array();
        for (const auto& h : member(inst, "hops"))
            hops.push_back({{"host", str(h, "host")},
                            {"cpu_s", num(h, "cpu_s").value_or(0)},
                            {"process_cpu_s", num(h, "process_cpu_s").value_or(0)}});
        const auto lat = [&](metric m) {
            auto y = values[static_cast<std::size_t>(m)];
            return y ? json(*y) : json(nullptr);
        };
        v["via"] = {{"chain", {{"p50", lat(metric::latency_p50)}, {"p99", lat(metric::latency_p99)}}},
                    {"hops", hops}};
    }
    // A group: its members as views of their own, for a group renderer; its hosts' CPU here.
    if (const json& g = member(inst, "group"); g.is_object()) {
        json members = json::array(), idle = json::array();
        for (const auto& m : member(g, "members"))
            if (m.is_object()) members.push_back(view_of(m));
        for (const auto& x : member(g, "idle"))
            idle.push_back({{"member", str(x, "member")},
                            {"p50_inflation_us", member(x, "p50_inflation_us")},
                            {"p99_inflation_us", member(x, "p99_inflation_us")}});
        for (const auto& h : member(g, "hosts"))
            v["cpu"].push_back({{"host", str(h, "host")},
                                {"role", "group host"},
                                {"cpu_s", num(h, "cpu_s").value_or(0)},
                                {"demand", nullptr}});
        const auto fairness = values[static_cast<std::size_t>(metric::fairness)];
        v["group"] = {{"members", members},
                      {"idle", idle},
                      {"min_overlap", member(g, "min_overlap")},
                      {"fairness", fairness ? json(*fairness) : json(nullptr)}};
    }
    return v;
}

/// Per scenario of two or more instances: the headline metric against each numeric matrix axis,
/// one line per combination of the other axes' values.
json matrix_charts(const std::vector<const json*>& views) {
    std::map<std::string, std::vector<const json*>> by_scenario;
    for (const json* v : views)
        if (member(member(*v, "headline"), "value").is_number())
            by_scenario[str(*v, "scenario")].push_back(v);
    json out = json::array();
    for (const auto& [scenario, vs] : by_scenario) {
        if (vs.size() < 2) continue;
        std::map<std::string, std::set<std::string>> seen;
        for (const json* v : vs)
            for (const auto& [k, val] : (*v)["params"].items())
                seen[k].insert(val.get<std::string>());
        std::vector<std::string> axes;
        for (const auto& [k, vals] : seen)
            if (vals.size() > 1) axes.push_back(k);
        for (const auto& axis : axes) {
            if (!std::all_of(vs.begin(), vs.end(), [&](const json* v) { return (*v)["num"].contains(axis); }))
                continue;
            std::map<std::string, json> lines;
            for (const json* v : vs) {
                std::string label;
                for (const auto& other : axes)
                    if (other != axis)
                        label +=
                            (label.empty() ? "" : ",") + other + "=" + str((*v)["params"], other.c_str());
                if (label.empty()) label = str(*v, "scenario");
                auto& pts = lines[label];
                if (pts.is_null()) pts = json::array();
                pts.push_back({(*v)["num"][axis], (*v)["headline"]["value"]});
            }
            json ls = json::array();
            for (auto& [label, pts] : lines) {
                std::sort(pts.begin(), pts.end(), [](const json& a, const json& b) { return a[0] < b[0]; });
                ls.push_back({{"label", label}, {"points", pts}});
            }
            const json& h = (*vs.front())["headline"];
            std::string unit;
            for (const json* v : vs)
                if (unit.empty()) unit = str(member(*v, "num_unit"), axis.c_str());
            out.push_back({{"scenario", scenario},
                           {"axis", axis},
                           {"axis_unit", unit},
                           {"metric", h["metric"]},
                           {"unit", h["unit"]},
                           {"lines", ls}});
        }
    }
    return out;
}

std::string pct_text(const json& change) {
    if (!change.is_number()) return "inf";
    return fmt::format("{:+.1f}%", change.get<double>() * 100);
}

std::string sha256_b64(std::string_view text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    std::string out(4 * ((len + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, static_cast<int>(len));
    return out;
}

/// JSON for a <script type="application/json"> block: every '<' as \u003c (it only occurs in
/// strings), so no "</script>" or "<!--" can end or change the block.
std::string script_json(const json& j) {
    std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size() + 64);
    for (char c : s) {
        if (c == '<')
            out += "\\u003c";
        else
            out += c;
    }
    return out;
}

std::string header_html(const json& frame) {
    const json& plan = member(frame, "plan");
    std::string out =
        fmt::format("<header><h1>{}</h1>\n<dl class=\"facts\">", esc(str(plan, "name", "kperf-plan run")));
    auto fact = [&out](const char* k, const std::string& v) {
        out += fmt::format("<dt>{}</dt><dd>{}</dd>", k, esc(v));
    };
    fact("plan", str(plan, "file"));
    fact("plan sha256", str(plan, "sha256"));
    fact("started", str(frame, "started_at"));
    fact("finished", str(frame, "finished_at", "-"));
    const std::string status = str(frame, "status", "-");
    out += fmt::format("<dt>status</dt><dd class=\"status-{}\">{}</dd>", esc(status), esc(status));
    const json& code = member(frame, "exit_code");
    fact("exit code", code.is_number() ? code.dump() : std::string("-"));
    fact("tool", str(member(frame, "tool"), "version"));
    std::string cmd;
    for (const auto& a : member(frame, "command_line"))
        if (a.is_string()) cmd += (cmd.empty() ? "" : " ") + a.get<std::string>();
    fact("command", cmd);
    out += "</dl>\n";
    const json& hosts = member(frame, "hosts");
    if (hosts.is_object() && !hosts.empty()) {
        out += "<table class=\"hosts\"><thead><tr><th>host</th><th>transport</th><th>address</th>"
               "<th>kernel</th><th>status</th></tr></thead><tbody>\n";
        for (const auto& [name, h] : hosts.items()) {
            const json& env = member(h, "environment");
            std::string kernel = str(member(env, "uname"), "release", str(env, "kernel"));
            const json& f = member(h, "failure");
            out +=
                fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n", esc(name),
                            esc(str(h, "transport")), esc(str(h, "address")), esc(kernel),
                            f.is_object() ? esc(fmt::format("ERROR {}: {}", str(f, "step"), str(f, "error")))
                                          : std::string("ok"));
        }
        out += "</tbody></table>\n";
        for (const auto& [name, h] : hosts.items())
            out += fmt::format(
                "<details class=\"manifest\"><summary>environment of {}</summary><pre>{}</pre></details>\n",
                esc(name), esc(member(h, "environment").dump(2, ' ', false, json::error_handler_t::replace)));
    }
    out += "</header>\n";
    return out;
}

std::string summary_html(const std::vector<const json*>& views) {
    std::string out =
        "<section id=\"summary\"><h2>Summary</h2>\n<table class=\"summary\"><thead><tr><th>instance</th>"
        "<th>traffic</th><th>n</th><th>headline (mean; latency from merged histogram)</th>"
        "<th>cpu c/s [s]</th><th>result</th></tr></thead><tbody>\n";
    std::string lines;
    for (std::size_t i = 0; i < views.size(); ++i) {
        const json& v = *views[i];
        const json& r = v["row"];
        const std::string result = str(r, "result");
        out += fmt::format(
            "<tr class=\"st-{}\"><td><a href=\"#i{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td>"
            "<td>{}</td><td class=\"num\">{}</td><td class=\"result\">{}</td></tr>\n",
            esc(str(v, "status")), i, esc(str(v, "id")), esc(str(r, "traffic")), r["n"].dump(),
            esc(str(r, "headline")), esc(str(r, "cpu")), esc(result));
        // A group's members, indented under it as the terminal prints them (CPU is per host).
        for (const auto& m : member(member(v, "group"), "members")) {
            const json& mr = m["row"];
            out += fmt::format(
                "<tr class=\"member st-{}\"><td>&nbsp;&nbsp;{}</td><td>{}</td><td class=\"num\">{}</td>"
                "<td>{}</td><td class=\"num\">-</td><td class=\"result\">{}</td></tr>\n",
                esc(str(m, "status")), esc(str(m, "id")), esc(str(mr, "traffic")), mr["n"].dump(),
                esc(str(mr, "headline")), esc(str(mr, "result")));
            for (const auto& l : mr["lines"])
                lines += fmt::format("<li>{}</li>\n", esc(l.get<std::string>()));
        }
        for (const auto& l : r["lines"])
            lines += fmt::format("<li>{}</li>\n", esc(l.get<std::string>()));
    }
    out += "</tbody></table>\n";
    if (!lines.empty()) out += "<ul class=\"problems\">\n" + lines + "</ul>\n";
    out += "</section>\n";
    return out;
}

std::string baseline_html(const json& b) {
    if (!b.is_object()) return {};
    std::string out = "<section id=\"baseline\"><h2>Against the baseline</h2>\n";
    out += fmt::format("<p class=\"{}\">{}</p>\n", member(b, "regressed") == true ? "bad" : "good",
                       member(b, "regressed") == true ? "regression" : "no regression");
    out += "<table class=\"baseline\"><thead><tr><th>instance</th><th>metric</th><th>base</th><th>new</th>"
           "<th>change</th><th>tol</th><th>verdict</th></tr></thead><tbody>\n";
    for (const auto& r : member(b, "rows")) {
        const std::string verdict = str(r, "verdict");
        auto text = [&r, m = metric_from_name(str(r, "metric"))](const char* key) {
            const double v = num(r, key).value_or(0);
            return m ? human_metric(*m, v, std::string_view(str(r, "unit"))) : human_number(v);
        };
        std::string cls = verdict == "REGRESSION"  ? "regression"
                          : verdict == "improved"  ? "improved"
                          : verdict == "within CI" ? "noise"
                                                   : "same";
        out += fmt::format(
            "<tr class=\"v-{}\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
            "<td class=\"num\">{}</td><td class=\"num\">{:.0f}%</td><td>{}</td></tr>\n",
            cls, esc(str(r, "instance")), esc(str(r, "metric")), text("base"), text("new"),
            pct_text(member(r, "change")), num(r, "tolerance").value_or(0) * 100, esc(verdict));
    }
    out += "</tbody></table>\n";
    for (const char* k : {"missing_in_new", "missing_in_base", "not_comparable"})
        for (const auto& s : member(b, k))
            if (s.is_string()) out += fmt::format("<p>{}: {}</p>\n", k, esc(s.get<std::string>()));
    out += "<div class=\"charts\" id=\"baseline-charts\"></div></section>\n";
    return out;
}

std::string instance_html(const json& v, std::size_t i) {
    std::string out = fmt::format(
        "<details class=\"instance st-{}\" id=\"i{}\" data-index=\"{}\"{}><summary><b>{}</b> "
        "<span class=\"traffic\">{}</span> <span class=\"headline\">{}</span> "
        "<span class=\"result\">{}</span></summary>\n",
        esc(str(v, "status")), i, i, i < open_sections ? " open" : "", esc(str(v, "id")),
        esc(str(v["row"], "traffic")), esc(str(v["row"], "headline")), esc(str(v["row"], "result")));
    for (const auto& l : v["row"]["lines"])
        out += fmt::format("<p class=\"bad\">{}</p>\n", esc(l.get<std::string>()));
    if (const json& s = member(v, "search"); s.is_object()) {
        auto r = [](const json& x) { return x.is_number() ? human_rate(x.get<double>()) : std::string("-"); };
        const json& br = member(s, "bracket");
        out += fmt::format(
            "<p>search: {}, peak {}, bracket [{}, {}], {} probe(s) ({})</p>\n", esc(str(s, "outcome")),
            r(member(s, "peak")), r(br.is_array() && br.size() == 2 ? br[0] : json()),
            r(br.is_array() && br.size() == 2 ? br[1] : json()), s["probes"].size(), esc(str(s, "stopped")));
    }
    out += "<div class=\"charts\"></div></details>\n";
    return out;
}

} // namespace

void html_report::add(const json& instance) {
    views_.push_back(view_of(instance));
    texts_.push_back(script_json(views_.back()));
}

std::string html_report::text(const json& frame, const std::vector<json>& rest) const {
    std::vector<json> rest_views;
    rest_views.reserve(rest.size());
    for (const auto& r : rest)
        rest_views.push_back(view_of(r));
    std::vector<const json*> views;
    for (const auto& v : views_)
        views.push_back(&v);
    for (const auto& v : rest_views)
        views.push_back(&v);

    // The data block: the views dumped when they were added, spliced into the rest.
    json units = json::object();
    for (metric m : all_metrics())
        units[std::string(info(m).name)] = info(m).unit;
    json head = {{"plan", str(member(frame, "plan"), "name")},
                 {"units", units},
                 {"matrix", matrix_charts(views)},
                 {"baseline", member(frame, "baseline")},
                 {"open", open_sections}};
    std::string data = script_json(head);
    data.pop_back(); // the closing brace
    data += ",\"instances\":[";
    for (std::size_t i = 0; i < views.size(); ++i) {
        if (i) data += ',';
        data += i < texts_.size() ? texts_[i] : script_json(rest_views[i - texts_.size()]);
    }
    data += "]}";

    const std::string_view css = report_css_source(), js = report_js_source(), chart = chartjs_source();
    std::string out;
    out.reserve(chart.size() + js.size() + data.size() + 64 * 1024 + views.size() * 2048);
    out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
    // No network at all (default-src 'none'); the page's own style and scripts run by their hashes,
    // and the data block is JSON, which is not executed. Charts are canvases, no images are loaded.
    out += fmt::format("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                       "script-src 'sha256-{}' 'sha256-{}'; style-src 'sha256-{}'; img-src data:; "
                       "form-action 'none'; base-uri 'none'\">\n",
                       sha256_b64(chart), sha256_b64(js), sha256_b64(css));
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    out +=
        fmt::format("<title>kperf-plan report: {}</title>\n<style>", esc(str(member(frame, "plan"), "name")));
    out += css;
    out += "</style></head>\n<body>\n<main>\n";
    out += header_html(frame);
    out += summary_html(views);
    out += baseline_html(member(frame, "baseline"));
    out += "<section id=\"matrix\"><h2>Matrix</h2><div class=\"charts\"></div></section>\n";
    out += "<section id=\"instances\"><h2>Instances</h2>\n";
    for (std::size_t i = 0; i < views.size(); ++i)
        out += instance_html(*views[i], i);
    out += "</section>\n</main>\n<script type=\"application/json\" id=\"kp-data\">";
    out += data;
    out += "</script>\n<script>";
    out += chart;
    out += "</script>\n<script>";
    out += js;
    out += "</script>\n</body></html>\n";
    return out;
}

std::string html_report_of(const json& doc) {
    html_report r;
    json frame = doc;
    frame.erase("instances");
    for (const auto& i : member(doc, "instances"))
        if (i.is_object()) r.add(i);
    return r.text(frame);
}

} // namespace kp::runner
