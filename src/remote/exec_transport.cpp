// The `exec:` transport: a boot shell on the command's stdio runs the deploy commands one at a
// time (a marker protocol), then execs the agent on the same stdio.
#include "remote/exec_transport.hpp"

#include <chrono>
#include <fstream>
#include <random>

#include <boost/process/search_path.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "remote/local_transport.hpp"
#include "remote/stream_deploy.hpp"

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds command_timeout{120000};

/// The boot shell, run as `sh -c BOOT kperf-plan-boot TOKEN`. Each request is a line with the
/// input's byte count, the script's lines, and a line holding TOKEN; then the input. It answers
/// with what the script printed, then "\nTOKEN <exit status>\n". The runner sends the next
/// request only after the answer, so `head -c` never finds more than its input in the pipe; the
/// input is always read whole (the `cat` after the script), so a failed script cannot leave
/// bytes to be read as commands. A request "agent", then the expected SHA-256 (empty: none) and
/// the path, verifies the binary and execs it as the agent.
constexpr std::string_view boot_script = R"SH(kp_t=$1
while IFS= read -r kp_n; do
  if [ "$kp_n" = agent ]; then
    IFS= read -r kp_sha; IFS= read -r kp_p
    case $kp_p in "~/"*) kp_p="$HOME/${kp_p#??}";; esac
    if [ -n "$kp_sha" ]; then
      kp_s=$(sha256sum < "$kp_p") || exit 126
      if [ "${kp_s%% *}" != "$kp_sha" ]; then
        echo "kperf-plan: $kp_p does not hash to $kp_sha; not running it" >&2; exit 126
      fi
    fi
    exec "$kp_p" agent
  fi
  kp_s=
  while IFS= read -r kp_l && [ "$kp_l" != "$kp_t" ]; do kp_s="$kp_s$kp_l
"; done
  if [ "$kp_n" = 0 ]; then
    ( (eval "$kp_s") </dev/null ); kp_r=$?
  else
    head -c "$kp_n" | ( (eval "$kp_s"); kp_r=$?; cat >/dev/null; exit $kp_r ); kp_r=$?
  fi
  printf '\n%s %s\n' "$kp_t" "$kp_r"
done
)SH";

/// The local transport with the command's description.
class exec_transport final : public transport {
  public:
    exec_transport(std::unique_ptr<local_transport> t, std::string what)
        : t_(std::move(t)), what_(std::move(what)) {}
    result<void> write_all(std::span<const std::byte> bytes) override { return t_->write_all(bytes); }
    result<std::size_t> read_some(std::span<std::byte> into, milliseconds timeout) override {
        return t_->read_some(into, timeout);
    }
    void close() override { t_->close(); }
    [[nodiscard]] std::string describe() const override { return what_; }
    [[nodiscard]] std::string exit_status() override { return t_->exit_status(); }

  private:
    std::unique_ptr<local_transport> t_;
    std::string what_;
};

/// Sends one request to the boot shell and reads its answer.
result<shell_output> run_request(local_transport& t, const std::string& label, const std::string& token,
                                 const std::string& script, std::string_view input) {
    std::string req = fmt::format("{}\n{}\n{}\n", input.size(), script, token);
    req.append(input);
    // A command that failed at once (no such pod, namespace or container) closes its stdin.
    auto ended = [&] {
        return fail(fmt::format("{}: exec: the command ended ({}) before answering; its stderr is in the log",
                                label, t.exit_status()));
    };
    if (auto w = t.write_all(std::as_bytes(std::span(req))); !w) return ended();
    std::string got, marker = "\n" + token + " ";
    auto deadline = clock::now() + command_timeout;
    std::byte buf[4096];
    for (;;) {
        if (auto at = got.find(marker); at != std::string::npos) {
            auto nl = got.find('\n', at + marker.size());
            if (nl != std::string::npos) {
                if (nl + 1 != got.size())
                    return fail(fmt::format("{}: exec: unexpected output after an answer", label));
                shell_output out;
                out.exit_status = std::atoi(got.c_str() + at + marker.size());
                out.out = got.substr(0, at);
                return out;
            }
        }
        if (clock::now() > deadline)
            return fail(
                make_error(fmt::format("{}: exec: no answer within 120s", label), error_kind::timeout));
        auto n = t.read_some(buf, milliseconds(200));
        if (!n && n.error().kind == error_kind::timeout) continue;
        if (!n) return fail(n.error().context(label + ": exec"));
        if (*n == 0) return ended();
        got.append(reinterpret_cast<const char*>(buf), *n);
    }
}

} // namespace

std::string describe_exec(const std::vector<std::string>& command) {
    return fmt::format("exec {}", fmt::join(command, " "));
}

result<std::unique_ptr<transport>> open_exec_agent(const exec_options& o, const std::string& local_binary,
                                                   deploy_report* report) {
    std::string label = "host " + o.host_name;
    if (o.command.empty()) return fail(label + ": exec: no command");
    std::string exe = o.command[0];
    if (exe.find('/') == std::string::npos) {
        auto found = boost::process::search_path(exe);
        if (found.empty()) return fail(fmt::format("{}: exec: '{}' not found in PATH", label, exe));
        exe = found.string();
    }
    std::string token =
        fmt::format("kperf-plan-{:08x}{:08x}", std::random_device{}(), std::random_device{}());
    local_options lo;
    lo.host_name = o.host_name;
    lo.executable = exe;
    lo.args.assign(o.command.begin() + 1, o.command.end());
    for (std::string a : {std::string("sh"), std::string("-c"), std::string(boot_script),
                          std::string("kperf-plan-boot"), token})
        lo.args.push_back(std::move(a));
    lo.sink = o.sink;
    auto t = local_transport::spawn(std::move(lo));
    if (!t) return fail(t.error().context(label + ": exec"));

    deploy_report rep;
    if (!o.agent_path.empty()) {
        rep.remote_path = o.agent_path;
        rep.method = "agent_path";
    } else {
        host_shell shell = [&](const std::string& script, std::string_view input) {
            return run_request(**t, label, token, script, input);
        };
        auto d = deploy_over_shell(shell, label, local_binary);
        if (!d) {
            (*t)->close();
            return fail(d.error());
        }
        rep.sha256 = *sha256_file(local_binary);
        rep.remote_path = d->remote_path;
        rep.uploaded = d->uploaded;
        rep.method = d->uploaded ? "exec" : "cached";
    }
    std::string start = fmt::format("agent\n{}\n{}\n", rep.sha256, rep.remote_path);
    if (auto w = (*t)->write_all(std::as_bytes(std::span(start))); !w) {
        (*t)->close();
        return fail(w.error().context(label + ": exec: starting the agent"));
    }
    if (report != nullptr) *report = rep;
    return std::unique_ptr<transport>(
        std::make_unique<exec_transport>(std::move(*t), describe_exec(o.command)));
}

} // namespace kp::remote
