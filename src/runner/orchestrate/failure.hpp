#pragma once
/// An agent's failed request as an instance's failure, with its context said once, and the
/// failure of an instance whose two sides both failed, its cause first.
#include <string>

#include "engine/core/error.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

/// Session `session` on `host` failed at `step` ("establish") with `e`, an agent_client error.
/// The failure's step names the request ("establish rr#0/client"), and its error is `e` without the
/// "host b: establish rr#0/client: " that agent_client put in front, which host and step now say.
[[nodiscard]] failure_reason side_failure(const std::string& host, const std::string& step,
                                          const std::string& session, const error& e);

/// Both sides of an instance failed the same step. The cause comes first: a lost host's, else the
/// error that is not only a consequence of the other side's failure (error::consequence), the
/// client's when both or neither are; the other's follows, so neither is lost:
/// "...: flow 3: socket: Too many open files...; and on host b: establish rr#0/server: ...".
[[nodiscard]] failure_reason both_failed(const failure_reason& client, const error& client_error,
                                         const failure_reason& server, const error& server_error);

} // namespace kp::runner
