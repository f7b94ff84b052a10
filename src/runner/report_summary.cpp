#include "runner/report_summary.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "engine/codec.hpp"
#include "runner/expect_eval.hpp"
#include "runner/report_progress.hpp"

namespace kp::runner {
namespace {

std::string cpu_text(const instance_record& r) {
    const auto* c = r.aggregate.find(metric::client_cpu_s);
    const auto* s = r.aggregate.find(metric::server_cpu_s);
    if (!c || !s) return "-";
    return fmt::format("{:.2f}/{:.2f}", c->value, s->value);
}

const char* verdict(const instance_record& r) {
    switch (r.status) {
    case instance_status::ok: return "pass";
    case instance_status::expect_failed: return "FAIL";
    case instance_status::failed: return "ERROR";
    case instance_status::interrupted: return "INTERRUPTED";
    case instance_status::skipped: return "skipped";
    }
    return "?";
}

} // namespace

std::string summary_table(const run_record& run) {
    std::size_t w = 8;
    for (const auto& r : run.instances) w = std::max(w, r.id.size());
    std::string out = fmt::format("{:<{}}  {:<10}  {:>3}  {:<44}  {:>11}  {}\n", "instance", w, "traffic", "n",
                                  "headline (mean; latency from merged histogram)", "cpu c/s [s]", "result");
    for (const auto& r : run.instances)
        out += fmt::format("{:<{}}  {:<10}  {:>3}  {:<44}  {:>11}  {}\n", r.id, w, engine::to_string(r.kind),
                           r.repeats.size(), headline(r), cpu_text(r), verdict(r));
    for (const auto& r : run.instances) {
        for (const auto& c : r.checks)
            if (!c.passed) out += fmt::format("FAIL {}: {}\n", r.id, describe_check(c));
        if (r.failure)
            out += fmt::format("ERROR {}: host {}: {}: {}\n", r.id, r.failure->host.empty() ? "-" : r.failure->host,
                               r.failure->step, r.failure->error);
    }
    for (const auto& h : run.hosts)
        if (h.failure) out += fmt::format("ERROR host {}: {}: {}\n", h.name, h.failure->step, h.failure->error);
    return out;
}

} // namespace kp::runner
