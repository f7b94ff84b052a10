#pragma once
/// `kperf-plan run PLAN`: orchestrates every instance of a validated plan and writes the reports.
#include <string>
#include <vector>

namespace kp::runner {

struct plan; // runner/plan.hpp

/// Options of `run` that are not part of the plan.
struct run_options {
    std::string output_dir;        ///< -o DIR; empty: results/<plan-name>/<UTC timestamp>/
    std::string junit;             ///< --junit FILE
    std::string baseline;          ///< --baseline FILE
    bool csv_repeats = false;      ///< --csv-repeats
    std::string known_hosts;       ///< --known-hosts FILE (overrides the plan's)
    bool accept_new_host_keys = false; ///< --accept-new-host-keys
    std::vector<std::string> argv; ///< the command line, recorded in results.json
};

/// Runs the plan; returns the exit code (0 ok, 1 expectations/regressions failed, 3 infrastructure).
int run_plan(const plan& p, const run_options& options);

} // namespace kp::runner
