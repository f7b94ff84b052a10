#pragma once
/// The command line: parses arguments and dispatches to validate / run / compare / agent.

namespace kp::runner {

/// Exit codes, stable: scripts rely on them.
enum exit_code : int { exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_infrastructure = 3 };

/// Runs the command line and returns the process exit code.
int run_cli(int argc, char** argv);

} // namespace kp::runner
