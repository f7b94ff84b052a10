#pragma once
// Helpers shared by the SSH integration tests (header-only, test code).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "netns_fixture.hpp"
#include "remote/ssh/transport.hpp"
#include "skip.hpp"

namespace kp::test {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

/// Skips the test (kp::test::skip; returns true) when namespaces or sshd are not available here.
inline bool skip_without_netns() {
    std::string why = netns_hosts::unavailable_reason();
    if (why.empty()) return false;
    skip("SSH tests need network namespaces and sshd: " + why);
    return true;
}

inline remote::ssh_options options_for(const netns_hosts& f, std::size_t i) {
    ::unsetenv("SSH_AUTH_SOCK"); // a developer's ssh-agent must not change what is tried
    remote::ssh_options o;
    o.target = {"root", f.hosts()[i].address, 22};
    o.identity = f.key();
    o.known_hosts = f.known_hosts();
    o.host_name = f.hosts()[i].name;
    o.connect_timeout = 5s;
    return o;
}

/// Collects forwarded stderr lines (the pump thread calls the sink).
struct log_lines {
    std::mutex mu;
    std::vector<std::string> lines;
    remote::log_sink sink() {
        return [this](const std::string& l) {
            std::lock_guard lock(mu);
            lines.push_back(l);
        };
    }
    bool contains(const std::string& l) {
        std::lock_guard lock(mu);
        return std::find(lines.begin(), lines.end(), l) != lines.end();
    }
};

/// Reads until `want` bytes or end of stream, at most 5 s.
inline std::string read_bytes(remote::transport& t, std::size_t want) {
    std::string got;
    std::byte buf[256];
    auto deadline = clock_type::now() + 5s;
    while (got.size() < want && clock_type::now() < deadline) {
        auto n = t.read_some(buf, 200ms);
        if (!n) continue; // timed out: try again until the deadline
        if (*n == 0) break;
        got.append(reinterpret_cast<const char*>(buf), *n);
    }
    return got;
}

/// "SHA256:…" of a public key file, as ssh-keygen prints it.
inline std::string fingerprint(const std::string& pub_file) {
    std::istringstream in(run_shell("ssh-keygen -lf " + pub_file));
    std::string bits, fp;
    in >> bits >> fp;
    return fp;
}

inline std::string root_home() {
    const passwd* pw = getpwuid(0);
    return pw != nullptr ? pw->pw_dir : "/root";
}

/// Runs ssh_hold with `command` against host 0, SIGKILLs it once the session is up, and checks
/// that within 5 s only the listening sshd is left in the host's namespace.
inline void check_sigkill_leaves_nothing(const netns_hosts& f, const std::string& command) {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) { // only async-signal-safe calls until exec
        ::dup2(out[1], 1);
        ::execl(KP_SSH_HOLD, KP_SSH_HOLD, f.hosts()[0].address.c_str(), f.key().c_str(),
                f.known_hosts().c_str(), command.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ::close(out[1]);
    std::string said;
    pollfd pfd{out[0], POLLIN, 0};
    for (int i = 0; i < 300 && said.find("ready") == std::string::npos; ++i) {
        if (::poll(&pfd, 1, 100) <= 0) continue;
        char buf[64];
        auto n = ::read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        said.append(buf, static_cast<std::size_t>(n));
    }
    ::close(out[0]);
    bool ready = said.find("ready") != std::string::npos;
    // The session's sshd and the remote command run next to the listening sshd.
    auto before = f.pids(0);
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    REQUIRE(ready);
    CHECK(before.size() >= 3);
    std::vector<pid_t> left;
    auto deadline = clock_type::now() + 5s;
    do {
        left = f.pids(0);
        if (left == std::vector<pid_t>{f.sshd_pid(0)}) break;
        std::this_thread::sleep_for(100ms);
    } while (clock_type::now() < deadline);
    CHECK(left == std::vector<pid_t>{f.sshd_pid(0)});
}

} // namespace kp::test
