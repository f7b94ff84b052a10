#include "runner/report/junit.hpp"

#include <fmt/format.h>

#include "runner/results/expect_eval.hpp"

namespace kp::runner {
namespace {

struct testcase {
    std::string classname, name;
    double time = 0;
    std::string kind; ///< "", "failure", "error", "skipped"
    std::string message;
};

std::string render(const testcase& t) {
    std::string head = fmt::format(R"(    <testcase classname="{}" name="{}" time="{:.3f}")", xml_escape(t.classname),
                                   xml_escape(t.name), t.time);
    if (t.kind.empty()) return head + "/>\n";
    if (t.kind == "skipped") return head + fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", xml_escape(t.message));
    return head + fmt::format(">\n      <{0} message=\"{1}\">{1}</{0}>\n    </testcase>\n", t.kind, xml_escape(t.message));
}

} // namespace

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
            // XML 1.0 forbids most control characters even escaped.
            if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r') out += '?';
            else out += c;
        }
    }
    return out;
}

std::string junit_xml(const run_record& run) {
    std::vector<testcase> cases;
    std::string suite = run.plan_name.empty() ? "kperf-plan" : run.plan_name;
    for (const auto& r : run.instances) {
        testcase t{suite, r.id, r.elapsed_s, "", ""};
        if (r.status == instance_status::failed || r.status == instance_status::interrupted) {
            t.kind = "error";
            t.message = r.failure ? fmt::format("host {}: {}: {}", r.failure->host, r.failure->step, r.failure->error)
                                  : std::string(to_string(r.status));
        } else if (r.status == instance_status::skipped) {
            t.kind = "skipped";
            t.message = "skipped";
        }
        cases.push_back(t);
        for (const auto& c : r.checks) {
            testcase k{suite + "." + r.id, fmt::format("{}: {} {}", r.id, c.metric, c.text), 0, "", ""};
            if (!c.passed) {
                k.kind = "failure";
                k.message = describe_check(c);
            }
            cases.push_back(k);
        }
    }
    if (run.baseline.is_object() && run.baseline.contains("rows"))
        for (const auto& row : run.baseline["rows"]) {
            if (row.value("verdict", "") != "REGRESSION") continue;
            cases.push_back({suite + ".baseline",
                             fmt::format("{}: {} regression", row.value("instance", ""), row.value("metric", "")), 0,
                             "failure",
                             fmt::format("{} went from {} to {} (tolerance {:.0f}%)", row.value("metric", ""),
                                         human_number(row.value("base", 0.0)), human_number(row.value("new", 0.0)),
                                         row.value("tolerance", 0.0) * 100)});
        }
    std::size_t failures = 0, errors = 0, skipped = 0;
    double time = 0;
    for (const auto& c : cases) {
        failures += c.kind == "failure";
        errors += c.kind == "error";
        skipped += c.kind == "skipped";
        time += c.time;
    }
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format("<testsuites name=\"kperf-plan\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
                       cases.size(), failures, errors, time);
    out += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\" "
        "timestamp=\"{}\">\n",
        xml_escape(suite), cases.size(), failures, errors, skipped, time, xml_escape(run.started_at));
    for (const auto& c : cases) out += render(c);
    out += "  </testsuite>\n</testsuites>\n";
    return out;
}

} // namespace kp::runner
