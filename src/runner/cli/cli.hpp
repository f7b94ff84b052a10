#pragma once
/// The command line: parses arguments and dispatches to validate / run / check / compare / agent.
#include "runner/results/exit_code.hpp"

namespace kp::runner {

/// Runs the command line and returns the process exit code.
int run_cli(int argc, char** argv);

} // namespace kp::runner
