#include "runner/cli/report.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "runner/report/files.hpp"
#include "runner/report/html.hpp"
#include "runner/results/compare.hpp"
#include "runner/results/exit_code.hpp"

namespace kp::runner {

int report_main(const std::string& results, const std::string& baseline, const std::string& output) {
    auto doc = load_results(results);
    if (!doc) {
        fmt::print(stderr, "kperf-plan: report: {}\n", doc.error().message);
        return exit_usage;
    }
    if (!baseline.empty()) {
        auto base = load_results(baseline);
        if (!base) {
            fmt::print(stderr, "kperf-plan: report: --baseline: {}\n", base.error().message);
            return exit_usage;
        }
        (*doc)["baseline"] = comparison_json(compare_results(*base, *doc, {}));
    }
    std::string out = output;
    if (out.empty()) {
        const std::filesystem::path p(results);
        out = ((std::filesystem::is_directory(p) ? p : p.parent_path()) / "report.html").string();
    }
    if (auto w = write_file_atomic(out, html_report_of(*doc)); !w) {
        fmt::print(stderr, "kperf-plan: report: {}\n", w.error().message);
        return exit_usage;
    }
    fmt::print("report: {}\n", out);
    return exit_ok;
}

} // namespace kp::runner
