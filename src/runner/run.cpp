#include "runner/run.hpp"

#include <fmt/format.h>

#include "runner/cli.hpp"

namespace kp::runner {

// Replaced by the orchestrator (runner work). It must not pretend to measure anything.
int run_plan(const plan&, const run_options&) {
    fmt::print(stderr, "kperf-plan: run: the orchestrator is not built yet; use --dry-run\n");
    return exit_infrastructure;
}

} // namespace kp::runner
