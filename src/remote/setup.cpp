#include "remote/setup.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

extern char** environ;

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;

/// /proc/sys/net/core/busy_poll for net.core.busy_poll; a name with '/' is a path already.
std::string sysctl_path(const std::string& name) {
    std::string rel = name;
    if (rel.find('/') == std::string::npos) std::replace(rel.begin(), rel.end(), '.', '/');
    return "/proc/sys/" + rel;
}

/// The whole content of a /proc file without its trailing newline.
std::expected<std::string, std::string> read_value(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
    std::string out;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            ::close(fd);
            return std::unexpected(std::string(std::strerror(e)));
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
        out.pop_back();
    return out;
}

/// One write(2) of `value`, as `echo value > path` does: /proc takes a value per write.
std::expected<void, std::string> write_value(const std::string& path, const std::string& value) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(std::string(std::strerror(errno)));
    std::string text = value + "\n";
    ssize_t n;
    do {
        n = ::write(fd, text.data(), text.size());
    } while (n < 0 && errno == EINTR);
    int e = errno;
    ::close(fd);
    if (n < 0) return std::unexpected(std::string(std::strerror(e)));
    return {};
}

/// Drains `fd` into `out` (keeping at most setup_output_cap bytes); false at end of file.
bool drain(int fd, std::string& out) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    std::size_t keep = std::min<std::size_t>(static_cast<std::size_t>(n),
                                             setup_output_cap - std::min(setup_output_cap, out.size()));
    out.append(buf, keep);
    return true;
}

/// "exit 1: <stderr>", the reason a command failed.
std::string command_error(const setup_command& c) {
    std::string why = c.exit_code < 0     ? "could not start"
                      : c.exit_code > 128 ? fmt::format("killed by signal {}", c.exit_code - 128)
                                          : fmt::format("exit {}", c.exit_code);
    std::string text = !c.stderr_text.empty() ? c.stderr_text : c.stdout_text;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
        text.pop_back();
    return text.empty() ? why : fmt::format("{}: {}", why, text);
}

} // namespace

setup_command run_shell(const std::string& command, clock::time_point deadline) {
    setup_command c{command, -1, {}, {}};
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        c.stderr_text = fmt::format("pipe: {}", std::strerror(errno));
        return c;
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        c.stderr_text = fmt::format("pipe: {}", std::strerror(errno));
        ::close(out[0]);
        ::close(out[1]);
        return c;
    }
    // posix_spawn, not fork: the agent has threads. stdin is /dev/null, never the control stream.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0); // its own group, so a timeout kills what it started too
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t dflt;
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE); // the agent ignores SIGPIPE; a shell pipeline must not
    sigaddset(&dflt, SIGTERM);
    posix_spawnattr_setsigdefault(&attr, &dflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        c.stderr_text = fmt::format("/bin/sh: {}", std::strerror(rc));
        ::close(out[0]);
        ::close(err[0]);
        return c;
    }
    bool open[2] = {true, true};
    bool killed = false;
    while (open[0] || open[1]) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) {
            ::kill(-pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd fds[2] = {{open[0] ? out[0] : -1, POLLIN, 0}, {open[1] ? err[0] : -1, POLLIN, 0}};
        int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i)
            if (open[i] && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                open[i] = drain(i == 0 ? out[0] : err[0], i == 0 ? c.stdout_text : c.stderr_text);
    }
    ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) c.exit_code = 128 + WTERMSIG(status);
    if (killed) c.stderr_text += "\n(killed: the setup's time ran out)";
    return c;
}

std::vector<std::uint32_t> interface_irqs(const std::string& iface) {
    std::vector<std::uint32_t> out;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/sys/class/net/" + iface + "/device/msi_irqs", ec)) {
        std::uint32_t n = 0;
        auto name = e.path().filename().string();
        auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), n);
        if (err == std::errc() && p == name.data() + name.size()) out.push_back(n);
    }
    if (out.empty()) {
        // "  25:  0  1234  PCI-MSI 524288-edge  eth0-TxRx-0": the last field names the interface.
        std::ifstream in("/proc/interrupts");
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string first, word, last;
            fields >> first;
            while (fields >> word)
                last = word;
            std::uint32_t n = 0;
            if (first.empty() || first.back() != ':') continue;
            auto [p, err] = std::from_chars(first.data(), first.data() + first.size() - 1, n);
            if (err != std::errc() || p != first.data() + first.size() - 1) continue;
            if (last == iface || last.starts_with(iface + "-") || last.starts_with(iface + "@"))
                out.push_back(n);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::expected<setup_reply, std::string> host_setups::apply(const setup_apply_args& a,
                                                           clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    for (const auto& x : applied_)
        if (x.name == a.setup)
            return std::unexpected(fmt::format("setup '{}' is applied already; restore it first", a.setup));
    applied done{a.setup, {}, {}, {}};
    setup_reply rep;
    rep.setup = a.setup;
    // On a failing step: what was done so far goes back now, and the step's error is the reply.
    auto fail = [&](std::string why) -> std::expected<setup_reply, std::string> {
        (void)put_back(done, deadline);
        return std::unexpected(std::move(why));
    };
    for (const auto& s : a.sysctl) {
        const std::string path = sysctl_path(s.name);
        if (::access(path.c_str(), F_OK) != 0)
            return fail(fmt::format("sysctl {}: unknown sysctl (no {})", s.name, path));
        auto before = read_value(path);
        if (!before) return fail(fmt::format("sysctl {}: reading {}: {}", s.name, path, before.error()));
        if (auto w = write_value(path, s.value); !w)
            return fail(fmt::format("sysctl {}={}: writing {}: {}", s.name, s.value, path, w.error()));
        setup_change c{s.name, 0, *before, read_value(path).value_or(s.value)};
        done.sysctl.push_back(c);
        rep.sysctl.push_back(std::move(c));
    }
    for (const auto& q : a.irq_affinity) {
        auto irqs = interface_irqs(q.name);
        if (irqs.empty())
            return fail(fmt::format("irq_affinity {}: the interface has no IRQs (none in "
                                    "/sys/class/net/{}/device/msi_irqs or /proc/interrupts)",
                                    q.name, q.name));
        for (auto n : irqs) {
            const std::string path = fmt::format("/proc/irq/{}/smp_affinity_list", n);
            auto before = read_value(path);
            if (!before)
                return fail(fmt::format("irq_affinity {}: reading {}: {}", q.name, path, before.error()));
            if (auto w = write_value(path, q.value); !w)
                return fail(
                    fmt::format("irq_affinity {}={}: writing {}: {}", q.name, q.value, path, w.error()));
            setup_change c{q.name, n, *before, read_value(path).value_or(q.value)};
            done.irqs.push_back(c);
            rep.irqs.push_back(std::move(c));
        }
    }
    for (const auto& cmd : a.run) {
        done.undo = a.undo; // once a command ran, undo belongs to what must be put back
        auto c = run_shell(cmd, deadline);
        rep.commands.push_back(c);
        if (c.exit_code != 0) return fail(fmt::format("run '{}': {}", cmd, command_error(c)));
    }
    done.undo = a.undo;
    applied_.push_back(std::move(done));
    return rep;
}

setup_reply host_setups::put_back(const applied& a, clock::time_point deadline) {
    setup_reply rep;
    rep.setup = a.name;
    auto write_back = [&](const std::vector<setup_change>& list, bool irq, std::vector<setup_change>& out) {
        for (auto it = list.rbegin(); it != list.rend(); ++it) {
            const std::string path =
                irq ? fmt::format("/proc/irq/{}/smp_affinity_list", it->irq) : sysctl_path(it->name);
            auto now = read_value(path).value_or("");
            if (auto w = write_value(path, it->before); !w)
                rep.errors.push_back(fmt::format("{} {}: writing back '{}' to {}: {}",
                                                 irq ? "irq_affinity" : "sysctl", it->name, it->before, path,
                                                 w.error()));
            out.push_back({it->name, it->irq, now, read_value(path).value_or(it->before)});
        }
    };
    write_back(a.irqs, true, rep.irqs);
    write_back(a.sysctl, false, rep.sysctl);
    // Undo commands get their own time when the setup's ran out: they must run.
    auto undo_deadline = std::max(deadline, clock::now() + std::chrono::seconds(10));
    for (const auto& cmd : a.undo) {
        auto c = run_shell(cmd, undo_deadline);
        if (c.exit_code != 0) rep.errors.push_back(fmt::format("undo '{}': {}", cmd, command_error(c)));
        rep.commands.push_back(std::move(c));
    }
    return rep;
}

std::expected<setup_reply, std::string> host_setups::restore(const std::string& name,
                                                             clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    auto it =
        std::find_if(applied_.begin(), applied_.end(), [&](const applied& a) { return a.name == name; });
    if (it == applied_.end()) return std::unexpected(fmt::format("setup '{}' is not applied", name));
    applied a = std::move(*it);
    applied_.erase(it);
    return put_back(a, deadline);
}

std::vector<setup_reply> host_setups::restore_all(clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    std::vector<setup_reply> out;
    while (!applied_.empty()) {
        out.push_back(put_back(applied_.back(), deadline));
        applied_.pop_back();
    }
    return out;
}

} // namespace kp::remote
