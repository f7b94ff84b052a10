#include "runner/report/junit.hpp"

#include <fmt/format.h>

#include "runner/plan/human.hpp"
#include "runner/results/expect_eval.hpp"

namespace kp::runner {
namespace {

/// What a JUnit test case reports: nothing (passed), or its <failure>, <error> or <skipped>.
enum class case_kind : std::uint8_t { passed, failure, error, skipped };

/// The JUnit element of a kind that is not `passed`.
const char* element_of(case_kind k) {
    switch (k) {
    case case_kind::failure:
        return "failure";
    case case_kind::error:
        return "error";
    case case_kind::skipped:
        return "skipped";
    case case_kind::passed:
        break;
    }
    return "?";
}

struct testcase {
    std::string classname, name;
    double time = 0;
    case_kind kind = case_kind::passed;
    std::string message;
};

std::string render(const testcase& t) {
    std::string head = fmt::format(R"(    <testcase classname="{}" name="{}" time="{:.3f}")",
                                   xml_escape(t.classname), xml_escape(t.name), t.time);
    if (t.kind == case_kind::passed) return head + "/>\n";
    if (t.kind == case_kind::skipped)
        return head +
               fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n", xml_escape(t.message));
    return head + fmt::format(">\n      <{0} message=\"{1}\">{1}</{0}>\n    </testcase>\n",
                              element_of(t.kind), xml_escape(t.message));
}

} // namespace

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            // XML 1.0 forbids most control characters even escaped.
            if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t' && c != '\r')
                out += '?';
            else
                out += c;
        }
    }
    return out;
}

std::string junit_xml(const run_record& run) {
    std::vector<testcase> cases;
    std::string suite = run.plan_name.empty() ? "kperf-plan" : run.plan_name;
    for (const auto& r : run.instances) {
        testcase t{suite, r.id, r.elapsed_s, case_kind::passed, ""};
        if (r.status == instance_status::failed || r.status == instance_status::interrupted) {
            t.kind = case_kind::error;
            t.message = r.failure ? describe(*r.failure) : std::string(to_string(r.status));
        } else if (r.status == instance_status::skipped) {
            t.kind = case_kind::skipped;
            t.message = "skipped";
        }
        cases.push_back(t);
        auto checks_of = [&](const instance_record& x) {
            for (const auto& c : x.checks) {
                testcase k{suite + "." + x.id, fmt::format("{}: {} {}", x.id, c.metric, c.text), 0,
                           case_kind::passed, ""};
                if (!c.passed) {
                    k.kind = case_kind::failure;
                    k.message = describe_check(c, x.traffic_kind());
                }
                cases.push_back(k);
            }
        };
        checks_of(r);
        for (const auto& m : r.members) // a group member's own `expect:`
            checks_of(m);
    }
    if (run.baseline)
        for (const auto& d : run.baseline->rows) {
            if (d.outcome != verdict::regression) continue;
            const auto& name = info(d.which).name;
            cases.push_back({suite + ".baseline", fmt::format("{}: {} regression", d.instance, name), 0,
                             case_kind::failure,
                             fmt::format("{} went from {} to {} (tolerance {:.0f}%)", name,
                                         human_metric(d.which, d.base, d.unit),
                                         human_metric(d.which, d.fresh, d.unit), d.tolerance * 100)});
        }
    std::size_t failures = 0, errors = 0, skipped = 0;
    double time = 0;
    for (const auto& c : cases) {
        failures += c.kind == case_kind::failure;
        errors += c.kind == case_kind::error;
        skipped += c.kind == case_kind::skipped;
        time += c.time;
    }
    std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out += fmt::format(
        "<testsuites name=\"kperf-plan\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\">\n",
        cases.size(), failures, errors, time);
    out += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3f}\" "
        "timestamp=\"{}\">\n",
        xml_escape(suite), cases.size(), failures, errors, skipped, time, xml_escape(run.started_at));
    for (const auto& c : cases)
        out += render(c);
    out += "  </testsuite>\n</testsuites>\n";
    return out;
}

} // namespace kp::runner
