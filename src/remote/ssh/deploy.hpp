#pragma once
/// Self-deployment: puts this very binary on a host, once per content hash.
#include <string>

#include "engine/core/error.hpp"
#include "remote/ssh/session.hpp"
#include "remote/ssh/transport.hpp"

namespace kp::remote {

/// Lowercase hex SHA-256 of a file's content; remembered per path for the process lifetime.
result<std::string> sha256_file(const std::string& path);

/// This machine's architecture as `uname -m` prints it ("x86_64").
std::string local_machine();

/// Ensures ~/.cache/kperf-plan/<sha256>/kperf-plan on the host holds `local_binary`: checks the
/// architecture, uploads over SFTP to a temporary name and renames it atomically if absent.
result<deploy_report> deploy_binary(ssh_connection& conn, const std::string& local_binary);

} // namespace kp::remote
