// A deployed kperf-plan agent over real SSH: hello, shutdown, and no agent left behind.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "netns_fixture.hpp"
#include "remote/agent_client.hpp"
#include "remote/ssh/deploy.hpp"
#include "remote/ssh/transport.hpp"
#include "ssh_test_util.hpp"

using namespace kp::test;

namespace {

/// A copy of KPERF_PLAN_BIN with a unique tail (so a fresh hash, so a real upload), removed
/// from the hosts' cache afterwards.
struct unique_binary {
    std::string path;
    std::string sha;
    std::string cache_dir;
    explicit unique_binary(const netns_hosts& f) {
        const char* bin = std::getenv("KPERF_PLAN_BIN");
        REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
        path = f.dir() + "/kperf-plan";
        std::filesystem::copy_file(bin, path);
        std::ofstream(path, std::ios::app | std::ios::binary) << "kperf-plan test nonce " << f.dir();
        auto h = kp::remote::sha256_file(path);
        REQUIRE(h.has_value());
        sha = *h;
        cache_dir = fmt::format("{}/.cache/kperf-plan/{}", root_home(), sha);
    }
    ~unique_binary() {
        std::error_code ec;
        std::filesystem::remove_all(cache_dir, ec);
    }
};

/// Waits up to 5 s until only the listening sshd is left in host i's namespace.
bool only_sshd_left(const netns_hosts& f, std::size_t i) {
    auto deadline = clock_type::now() + 5s;
    do {
        if (f.pids(i) == std::vector<pid_t>{f.sshd_pid(i)}) return true;
        std::this_thread::sleep_for(100ms);
    } while (clock_type::now() < deadline);
    return false;
}

} // namespace

TEST_CASE("ssh: a deployed agent says hello from its host and exits after shutdown") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    unique_binary bin(f);
    for (std::size_t i = 0; i < 2; ++i) {
        log_lines logs;
        kp::remote::deploy_report rep;
        auto t = kp::remote::open_ssh_agent(options_for(f, i), bin.path, logs.sink(), &rep);
        REQUIRE_MESSAGE(t.has_value(), t.error().message);
        CHECK(rep.uploaded == (i == 0)); // the hosts share one home directory: one upload
        auto client = kp::remote::agent_client::start(f.hosts()[i].name, std::move(*t), 10s);
        REQUIRE_MESSAGE(client.has_value(), client.error().message);
        const auto& caps = (*client)->caps();
        // The build id carries the hash of the binary that runs, so this is the deployed copy.
        CHECK(caps.build_id.ends_with(bin.sha.substr(0, 16)));
        CHECK(caps.pid > 0);
        // It runs inside host i's namespace: it sees that host's address, not ours.
        bool has_address = std::any_of(caps.interfaces.begin(), caps.interfaces.end(), [&](const auto& itf) {
            return std::find(itf.addresses.begin(), itf.addresses.end(), f.hosts()[i].address) !=
                   itf.addresses.end();
        });
        CHECK_MESSAGE(has_address, "agent does not see " << f.hosts()[i].address);
        (*client)->shutdown();
        CHECK(only_sshd_left(f, i));
    }
}

TEST_CASE("ssh: SIGKILL of the runner side leaves no agent behind after 5 s") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    unique_binary bin(f);
    check_sigkill_leaves_nothing(f, "agent:" + bin.path);
}
