#include "runner/cli/baseline.hpp"

#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "runner/cli/run.hpp"
#include "runner/report/files.hpp"
#include "runner/results/calibrate.hpp"
#include "runner/results/compare.hpp"
#include "runner/results/exit_code.hpp"

namespace kp::runner {

int baseline_plan(const plan& p, int runs, const run_options& options) {
    if (runs < static_cast<int>(min_calibration_runs)) {
        fmt::print(stderr, "kperf-plan: baseline: --runs {}: at least {} runs are needed to tell noise\n", runs,
                   min_calibration_runs);
        return exit_usage;
    }
    if (options.output_dir.empty()) {
        fmt::print(stderr, "kperf-plan: baseline: -o DIR is required (the baseline directory to commit)\n");
        return exit_usage;
    }
    namespace fs = std::filesystem;
    const fs::path dir(options.output_dir);
    std::error_code ec;
    if (fs::exists(dir / "baseline.json", ec)) {
        fmt::print(stderr, "kperf-plan: baseline: {} already holds a baseline.json; choose a new directory\n",
                   dir.string());
        return exit_usage;
    }
    fs::create_directories(dir, ec);
    if (ec) {
        fmt::print(stderr, "kperf-plan: baseline: {}: {}\n", dir.string(), ec.message());
        return exit_usage;
    }
    calibration cal;
    std::vector<nlohmann::json> docs;
    for (int k = 1; k <= runs; ++k) {
        run_options o = options;
        const std::string name = fmt::format("run-{}", k);
        o.output_dir = (dir / name).string();
        o.baseline.clear();
        o.confirm = 0;
        if (!o.quiet) fmt::print("kperf-plan: baseline: run {} of {}\n", k, runs);
        const int rc = run_plan(p, o);
        // An expectation that failed still measured; anything worse leaves no figures to trust.
        if (rc != exit_ok && rc != exit_failed) {
            fmt::print(stderr, "kperf-plan: baseline: run {} exited {}; no baseline written (its reports: {})\n",
                       k, rc, o.output_dir);
            return rc == exit_usage ? exit_usage : exit_infrastructure;
        }
        auto doc = load_results(o.output_dir);
        if (!doc) {
            fmt::print(stderr, "kperf-plan: baseline: {}\n", doc.error().message);
            return exit_infrastructure;
        }
        docs.push_back(std::move(*doc));
        cal.run_dirs.push_back(name);
    }
    auto dirs = cal.run_dirs;
    cal = calibrate(docs);
    cal.run_dirs = std::move(dirs);
    if (auto w = write_file_atomic((dir / "baseline.json").string(), calibration_json(cal).dump(1) + "\n"); !w) {
        fmt::print(stderr, "kperf-plan: baseline: {}\n", w.error().message);
        return exit_infrastructure;
    }
    fmt::print("\n{}", format_calibration(cal));
    fmt::print("baseline: {}\n", (dir / "baseline.json").string());
    return exit_ok;
}

} // namespace kp::runner
