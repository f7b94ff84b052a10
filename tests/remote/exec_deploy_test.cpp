// The stream deploy and the exec: transport against real namespaces (tests/netns): a deploy
// through `ip netns exec`, a tampered cached binary replaced and never run, unsafe deploy
// directories refused, and SSH without an SFTP subsystem. Skips when not root.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "netns_fixture.hpp"
#include "remote/agent_client.hpp"
#include "remote/exec_transport.hpp"
#include "remote/ssh/deploy.hpp"
#include "remote/stream_deploy.hpp"
#include "ssh/ssh_test_util.hpp"
#include "ssh_topology.hpp"

using namespace kp::test;
namespace fs = std::filesystem;

namespace {

/// A copy of KPERF_PLAN_BIN with a unique tail (a fresh hash), its cache directory removed after.
struct fresh_binary {
    std::string path, sha, cache_dir;
    explicit fresh_binary(const netns_hosts& f) {
        const char* bin = std::getenv("KPERF_PLAN_BIN");
        REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
        path = f.dir() + "/kperf-plan";
        fs::copy_file(bin, path);
        std::ofstream(path, std::ios::app | std::ios::binary) << "kperf-plan exec test nonce " << f.dir();
        sha = *kp::remote::sha256_file(path);
        cache_dir = fmt::format("{}/.cache/kperf-plan/{}", root_home(), sha);
    }
    ~fresh_binary() {
        std::error_code ec;
        fs::remove(cache_dir, ec); // a symlink itself, not what it points to
        fs::remove_all(cache_dir, ec);
    }
};

kp::remote::exec_options exec_for(const netns_hosts& f, std::size_t i, kp::remote::log_sink sink = {}) {
    kp::remote::exec_options o;
    o.host_name = f.hosts()[i].name;
    o.command = {"ip", "netns", "exec", f.hosts()[i].ns};
    o.sink = std::move(sink);
    return o;
}

/// Plants a script at the cache path that would leave `marker` if it ever ran.
void plant_tampered(const fresh_binary& bin, const std::string& marker) {
    fs::create_directories(bin.cache_dir);
    fs::permissions(bin.cache_dir, fs::perms(0700));
    std::string target = bin.cache_dir + "/kperf-plan";
    std::ofstream(target) << "#!/bin/sh\ntouch " << marker << "\n";
    fs::permissions(target, fs::perms(0755));
}

bool hello_from(std::unique_ptr<kp::remote::transport> t, const netns_hosts& f, std::size_t i,
                const std::string& sha) {
    auto client = kp::remote::agent_client::start(f.hosts()[i].name, std::move(t), 10s);
    REQUIRE_MESSAGE(client.has_value(), client.error().message);
    const auto& caps = (*client)->caps();
    bool in_ns = false;
    for (const auto& itf : caps.interfaces)
        for (const auto& a : itf.addresses)
            in_ns = in_ns || a == f.hosts()[i].address;
    bool ours = caps.build_id.ends_with(sha.substr(0, 16));
    (*client)->shutdown();
    return in_ns && ours;
}

} // namespace

TEST_CASE("exec: deploys through ip netns exec, verifies the cached copy, runs the agent in the namespace") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    fresh_binary bin(f);
    kp::remote::deploy_report first, second;
    auto t1 = kp::remote::open_exec_agent(exec_for(f, 0), bin.path, &first);
    REQUIRE_MESSAGE(t1.has_value(), t1.error().message);
    CHECK(first.method == "exec");
    CHECK(first.uploaded);
    CHECK(first.remote_path == bin.cache_dir + "/kperf-plan");
    CHECK((*t1)->describe() == fmt::format("exec ip netns exec {}", f.hosts()[0].ns));
    CHECK(hello_from(std::move(*t1), f, 0, bin.sha));
    struct stat st {};
    REQUIRE(::stat(bin.cache_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    REQUIRE(::stat(first.remote_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0755);
    CHECK(*kp::remote::sha256_file(first.remote_path) == bin.sha);

    auto t2 = kp::remote::open_exec_agent(exec_for(f, 0), bin.path, &second);
    REQUIRE_MESSAGE(t2.has_value(), t2.error().message);
    CHECK(second.method == "cached");
    CHECK_FALSE(second.uploaded);
    CHECK(hello_from(std::move(*t2), f, 0, bin.sha));
    CHECK(std::distance(fs::directory_iterator(bin.cache_dir), {}) == 1); // no temporary left
}

TEST_CASE("exec and ssh: a tampered cached binary is replaced, never run") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    fresh_binary bin(f);
    std::string marker = f.dir() + "/tampered-ran";
    for (std::string via : {"exec", "ssh"}) {
        INFO(via);
        plant_tampered(bin, marker);
        kp::remote::deploy_report rep;
        auto t = via == "exec" ? kp::remote::open_exec_agent(exec_for(f, 0), bin.path, &rep)
                               : kp::remote::open_ssh_agent(options_for(f, 0), bin.path, {}, &rep);
        REQUIRE_MESSAGE(t.has_value(), t.error().message);
        CHECK(rep.uploaded);
        CHECK(rep.method == (via == "exec" ? "exec" : "sftp"));
        CHECK(run_shell("sha256sum < " + rep.remote_path).substr(0, 64) == bin.sha);
        CHECK(hello_from(std::move(*t), f, 0, bin.sha));
        CHECK_FALSE(fs::exists(marker));
        fs::remove_all(bin.cache_dir);
    }
}

TEST_CASE("exec and ssh: a symlinked or group-writable deploy directory is refused with a message") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    fresh_binary bin(f);
    std::string elsewhere = f.dir() + "/elsewhere";
    fs::create_directories(elsewhere);
    fs::create_directories(fs::path(bin.cache_dir).parent_path());
    std::string shown = "~/.cache/kperf-plan/" + bin.sha;
    for (std::string via : {"exec", "ssh"}) {
        INFO(via);
        auto open = [&] {
            return via == "exec" ? kp::remote::open_exec_agent(exec_for(f, 0), bin.path)
                                 : kp::remote::open_ssh_agent(options_for(f, 0), bin.path, {});
        };
        fs::create_directory_symlink(elsewhere, bin.cache_dir);
        auto linked = open();
        REQUIRE_FALSE(linked.has_value());
        CHECK(linked.error().message ==
              fmt::format("host host1: refusing the deploy directory {}: it is a symlink "
                          "(remove it, or set agent_path)",
                          shown));
        CHECK(fs::is_empty(elsewhere));
        fs::remove(bin.cache_dir);

        fs::create_directory(bin.cache_dir);
        fs::permissions(bin.cache_dir, fs::perms(0770));
        auto writable = open();
        REQUIRE_FALSE(writable.has_value());
        CHECK(writable.error().message ==
              fmt::format("host host1: refusing the deploy directory {}: it is group- "
                          "or world-writable (drwxrwx---) (remove it, or set agent_path)",
                          shown));
        fs::remove_all(bin.cache_dir);
    }
}

TEST_CASE("ssh: a server without an SFTP subsystem deploys over an exec channel") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    fresh_binary bin(f);
    second_sshd(f, 0, 2222, /*sftp=*/false); // a second sshd, on port 2222, without SFTP
    auto o = options_for(f, 0);
    o.target.port = 2222;
    o.known_hosts = f.known_hosts();
    kp::remote::deploy_report rep;
    std::optional<std::unique_ptr<kp::remote::transport>> t;
    for (int i = 0; i < 50; ++i) { // the new sshd accepts within 5 s
        auto r = kp::remote::open_ssh_agent(o, bin.path, {}, &rep);
        if (r) {
            t = std::move(*r);
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    REQUIRE(t.has_value());
    CHECK(rep.method == "exec");
    CHECK(rep.uploaded);
    CHECK(hello_from(std::move(*t), f, 0, bin.sha));
}

TEST_CASE("exec: a command that fails at once, or is not in PATH, is a message naming it") {
    if (skip_without_netns()) return;
    std::vector<std::string> lines;
    kp::remote::exec_options o;
    o.host_name = "h";
    o.command = {"ip", "netns", "exec", "kp-no-such-namespace"};
    o.sink = [&lines](const std::string& l) { lines.push_back(l); };
    auto r = kp::remote::open_exec_agent(o, std::getenv("KPERF_PLAN_BIN"));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message ==
          "host h: exec: the command ended (exit code 255) before answering; its stderr is in the log");
    CHECK(std::find(lines.begin(), lines.end(),
                    "h: Cannot open network namespace \"kp-no-such-namespace\": No such file or directory") !=
          lines.end());
    o.command = {"kp-no-such-command"};
    auto missing = kp::remote::open_exec_agent(o, "/nonexistent/kperf-plan");
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message == "host h: exec: 'kp-no-such-command' not found in PATH");
}
