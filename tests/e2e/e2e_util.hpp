#pragma once
// Helpers for the end-to-end tests: the built kperf-plan as a child process (bounded waits, killed
// on scope exit), scratch directories, the reports it writes, and the schema check.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "skip.hpp"

namespace kp::test {
class netns_hosts;
}

namespace kp::e2e {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using nlohmann::json;

/// The environment variable `name` (meson sets KPERF_PLAN_BIN and KPERF_SOURCE_ROOT); fails the
/// test when it is missing.
std::string env(const char* name);
/// The whole file ("" when it cannot be read).
std::string slurp(const fs::path& p);
/// The lines of `text`, without their newlines; a last line without one counts.
std::vector<std::string> lines_of(const std::string& text);
/// `text` cut at every `sep` (n separators give n+1 fields).
std::vector<std::string> split(const std::string& text, char sep);
inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// A scratch directory under /tmp, removed at scope exit.
struct scratch {
    fs::path dir;
    scratch();
    ~scratch();
    scratch(const scratch&) = delete;
    scratch& operator=(const scratch&) = delete;
    /// Writes `text` to dir/name; returns that path.
    fs::path write(const std::string& name, const std::string& text) const;
    [[nodiscard]] fs::path operator/(const std::string& name) const { return dir / name; }
};

/// `kperf-plan ARGS` as a child process, stdout and stderr into one log file. Killed (SIGKILL)
/// at scope exit if still running, so a failing test leaves no runner behind.
class runner_process {
  public:
    /// Starts `kperf-plan ARGS` in `cwd` (default: the test's own), without SSH_AUTH_SOCK.
    runner_process(const std::vector<std::string>& args, fs::path log, const fs::path& cwd = {});
    ~runner_process();
    runner_process(const runner_process&) = delete;
    runner_process& operator=(const runner_process&) = delete;

    /// The exit code (128+signal when killed), or -1 when it did not end within `limit`; then
    /// it is killed.
    int wait(std::chrono::milliseconds limit);
    /// Waits (bounded) until the log matches `re`; an empty match when it did not in time or
    /// the process ended first.
    std::smatch await(const std::regex& re, std::chrono::milliseconds limit);
    /// Sends `sig` (the test fails when that is not possible).
    void signal(int sig) const;
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::string log() const { return slurp(log_); }
    /// Wall time from start to exit.
    [[nodiscard]] double seconds() const { return std::chrono::duration<double>(ended_ - started_).count(); }

  private:
    [[nodiscard]] bool running() const;
    pid_t pid_ = -1;
    fs::path log_;
    std::string text_; // what await() matched in; the smatch points into it
    clock_type::time_point started_{}, ended_{};
};

/// One finished run of kperf-plan.
struct run_result {
    int code = -1;
    std::string log;
    double seconds = 0;
};

/// Runs kperf-plan to the end (at most `limit`, then it is killed and the code is -1).
run_result run_kperf(const std::vector<std::string>& args, const fs::path& log,
                     std::chrono::milliseconds limit = 90s, const fs::path& cwd = {});

/// The file as JSON; fails the test when it is not.
json load_json(const fs::path& p);
/// Every line of results.jsonl, parsed; a line that does not parse fails the test.
std::vector<json> jsonl(const fs::path& p);
/// results_check.py's verdict on a report directory: "" when results.json and every line of
/// results.jsonl validate against schemas/results.schema.json and agree, else its error lines.
std::string schema_errors(const fs::path& dir);
/// An instance of a results document by id (fails the test when it is missing).
const json& instance_of(const json& doc, const std::string& id);

/// One JUnit test case.
struct junit_case {
    std::string name;
    bool failure = false, error = false;
    std::string message;
};
/// The test cases of a JUnit file; the test fails when it is not well-formed XML.
std::vector<junit_case> junit_cases(const fs::path& p);

/// argv of process `pid` (empty when it is gone).
std::vector<std::string> cmdline(pid_t pid);
/// True while `pid` is a running (not zombie) `kperf-plan agent`.
bool is_live_agent(pid_t pid);
/// Pids of running `kperf-plan agent` processes of the binary under test (KPERF_PLAN_BIN).
std::set<pid_t> live_agents_of_test_binary();
/// The agent pids the runner announced in its log ("me: agent[1234]: ... ready").
std::set<pid_t> announced_agents(const std::string& log);

/// Writes `text` as plan.yaml in `s` and runs it to the end (at most `limit`) with its reports in
/// s/out, trusting the fixture's host keys.
run_result run_plan(const kp::test::netns_hosts& f, const scratch& s, const std::string& text,
                    std::chrono::milliseconds limit = 120s);
/// The aggregate value of metric `m` of an instance record (fails the test when it has none).
double metric_of(const json& inst, const std::string& m);

/// Skips the test (kp::test::skip; returns true) when namespaces or sshd are not available.
bool skip_without_netns();

} // namespace kp::e2e
