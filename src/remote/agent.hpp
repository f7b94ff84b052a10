#pragma once
/// `kperf-plan agent`: serves the control protocol on stdin/stdout until EOF.

namespace kp::remote {

/// Runs the agent loop on stdin/stdout; logs go to stderr. Returns the process exit code.
int agent_main();

} // namespace kp::remote
