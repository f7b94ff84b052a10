#pragma once
/// Crash-safe report files: results.jsonl appended and fsync'ed line by line, results.json and
/// results.csv replaced atomically (temp file, fsync, rename) so a reader never sees a torn file.
#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"

namespace kp::runner {

/// "2026-11-25T10:39:43Z" for `t`.
[[nodiscard]] std::string utc_iso8601(std::chrono::system_clock::time_point t);

/// The output directory: `explicit_dir` when given, else a new results/<plan_name>/<UTC timestamp>/
/// (timestamp like 20261125T103943Z; "-2", "-3"... appended when a run in the same second has
/// it). Creates it with its parents.
[[nodiscard]] result<std::string> make_output_dir(const std::string& plan_name,
                                                  const std::string& explicit_dir,
                                                  std::chrono::system_clock::time_point now);

/// One run's exclusive claim on its output directory: DIR/.kperf-plan.lock, flock'ed for as long
/// as the claim lives and holding the run's pid. The kernel drops the lock when the process ends,
/// so a crashed run leaves nothing held. A directory is refused when another run holds it, or when
/// it already has a results.jsonl (an earlier run's, which would be truncated).
class output_dir_claim {
  public:
    [[nodiscard]] static result<output_dir_claim> take(const std::string& dir);
    output_dir_claim(output_dir_claim&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
    output_dir_claim& operator=(output_dir_claim&&) = delete;
    output_dir_claim(const output_dir_claim&) = delete;
    output_dir_claim& operator=(const output_dir_claim&) = delete;
    ~output_dir_claim();
    /// Removes the lock file and gives up the claim (for a run that leaves its directory empty).
    void remove();

  private:
    output_dir_claim(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    int fd_ = -1;
    std::string path_;
};

/// Writes `text` to `path` atomically: `path.tmp`, fsync, rename, fsync of the directory.
[[nodiscard]] result<void> write_file_atomic(const std::string& path, const std::string& text);

/// results.jsonl: one JSON value per line, each line on disk (fsync) before append() returns.
class jsonl_writer {
  public:
    jsonl_writer() = default;
    jsonl_writer(const jsonl_writer&) = delete;
    jsonl_writer& operator=(const jsonl_writer&) = delete;
    ~jsonl_writer();

    /// Creates (truncates) `path`.
    [[nodiscard]] result<void> open(const std::string& path);
    /// Appends `value` as one line and syncs it to disk.
    [[nodiscard]] result<void> append(const nlohmann::json& value);

  private:
    int fd_ = -1;
    std::string path_;
};

} // namespace kp::runner
