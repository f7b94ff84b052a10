#pragma once
/// The options of a run that are not part of the plan (the `run` command line).
#include <chrono>
#include <string>
#include <vector>

#include "remote/keepalive.hpp"

namespace kp::runner {

/// Options of `run` that are not part of the plan.
struct run_options {
    std::string output_dir;             ///< -o DIR; empty: results/<plan-name>/<UTC timestamp>/
    std::string junit;                  ///< --junit FILE
    std::string baseline;               ///< --baseline FILE or DIR (a results file, or a `baseline` directory)
    int confirm = 0;                    ///< --confirm N: rerun regressed instances up to N times
    std::vector<std::string> tolerances; ///< --tolerance METRIC=5% (repeatable), over the plan's gate:
    bool csv_repeats = false;           ///< --csv-repeats
    std::string known_hosts;            ///< --known-hosts FILE (overrides the plan's)
    bool accept_new_host_keys = false;  ///< --accept-new-host-keys
    std::vector<std::string> argv;      ///< the command line, recorded in results.json
    std::vector<std::string> only;      ///< --only PATTERN: run the instances whose id matches a glob
    std::vector<std::string> overrides; ///< --set KEY=VALUE, as loaded into the plan (plan::overrides)
    bool quiet = false;                 ///< -q: no progress lines and no summary table
    bool json = false;                  ///< --json: results.jsonl lines on stdout; human output on stderr
    bool interval = false;              ///< -i: a line per second while an instance runs
    /// --keepalive: a ping to each agent when nothing else was sent for this long; 0 (`off`): none
    std::chrono::milliseconds keepalive = remote::keepalive::default_interval;
};

} // namespace kp::runner
