#pragma once
/// The process exit codes. They are stable: scripts rely on them (README, "Exit codes").

namespace kp::runner {

/// 0 ok, 1 expectations or regressions failed, 2 plan or usage wrong, 3 infrastructure failed.
enum exit_code : int { exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_infrastructure = 3 };

} // namespace kp::runner
