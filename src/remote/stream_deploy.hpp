#pragma once
/// Self-deployment through a shell, whatever carries it (an SSH exec channel, the stdio of an
/// `exec:` command): checks ~/.cache/kperf-plan/<sha256>/kperf-plan on the host, and when it is
/// missing or does not hash right, uploads with `cat > tmp`, verifies the SHA-256 of what arrived,
/// then chmods and renames it atomically. The directories are created 0700 and refused when they
/// are symlinks, not the user's, or writable by others.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/core/error.hpp"

namespace kp::remote {

/// What a host shell command printed (stdout, with stderr merged by the scripts) and its status.
struct shell_output {
    int exit_status = -1;
    std::string out;
};

/// Runs `script` with a POSIX shell on the host, `input` on its stdin.
using host_shell = std::function<result<shell_output>(const std::string& script, std::string_view input)>;

/// Lowercase hex SHA-256 of a file's content; remembered per path for the process lifetime.
result<std::string> sha256_file(const std::string& path);

/// This machine's architecture as `uname -m` prints it ("x86_64").
std::string local_machine();

/// One path on the host as `ls -ldn` describes it.
struct path_facts {
    char type = '?';  ///< 'd', '-', 'l', ...
    std::string mode; ///< "drwx------"
    long uid = -1;
};

/// What the probe found on the host.
struct deploy_probe {
    std::string arch, home;
    long uid = -1;
    bool has_sha256sum = false;
    std::optional<path_facts> base, dir, file; ///< ~/.cache/kperf-plan, its <sha> dir, the binary
    std::string file_sha256;                   ///< of the binary, when it is a regular file
};

/// Parses the probe script's answer; an error when it is not one.
result<deploy_probe> parse_probe(const std::string& out);

/// Refuses a deploy directory that is a symlink, not a directory, not owned by `uid`, or group-
/// or world-writable; `shown` names it in the message ("~/.cache/kperf-plan/<sha>").
result<void> check_deploy_dir(const path_facts& p, long uid, const std::string& shown);

/// The result of deploy_over_shell.
struct stream_deployed {
    std::string remote_path;    ///< absolute path of the verified binary
    bool uploaded = false;      ///< false: a verified copy was already there
    bool through_shell = false; ///< uploaded with `cat > tmp` (the uploader was unavailable)
};

/// Another way to upload (SFTP): writes the whole binary to `tmp_path` (in a directory already
/// checked) and returns true, or returns false when it is unavailable here (then `cat > tmp`).
using uploader = std::function<result<bool>(const std::string& tmp_path)>;

/// Probes, verifies, and uploads if needed (through `upload`, or the shell when it is empty),
/// verifying what arrived before the atomic rename. `label` prefixes messages ("host b").
result<stream_deployed> deploy_over_shell(const host_shell& shell, const std::string& label,
                                          const std::string& local_binary, const uploader& upload = {});

} // namespace kp::remote
