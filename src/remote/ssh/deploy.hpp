#pragma once
/// Self-deployment over SSH: puts this very binary on a host, once per content hash, verified by
/// its SHA-256 on the host (remote/stream_deploy.hpp). Uploads over SFTP when the server offers
/// it, else with `cat > tmp` on an exec channel.
#include <string>

#include "engine/core/error.hpp"
#include "remote/ssh/session.hpp"
#include "remote/ssh/transport.hpp"
#include "remote/stream_deploy.hpp"

namespace kp::remote {

/// Ensures ~/.cache/kperf-plan/<sha256>/kperf-plan on the host holds `local_binary`, verified;
/// report.method says how it got there ("sftp", "exec", or "cached" when it was).
result<deploy_report> deploy_binary(ssh_connection& conn, const std::string& local_binary);

} // namespace kp::remote
