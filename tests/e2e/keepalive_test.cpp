// End to end over real sshd in network namespaces: a partition that lasts. A 100% nftables drop
// on the server's namespace leaves the runner's SSH connection open but silent; with
// `--keepalive 500ms` the agent there must exit on its own (putting back its setup) within a
// bounded time, and the runner must give the host up rather than wait out the instance.
#include "e2e_util.hpp"

#include <fmt/format.h>

#include "netns_fixture.hpp"
#include "ssh_topology.hpp" // have_nft

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// Drops every packet in and out of namespace `ns` but loopback's, until destroyed.
struct partition {
    std::string ns;
    explicit partition(std::string n) : ns(std::move(n)) {
        int rc = -1;
        auto out = run_shell(fmt::format("ip netns exec {} nft -f - 2>&1 <<'EOF'\n"
                                         "table inet kp_partition {{\n"
                                         "  chain in {{ type filter hook input priority -200; policy drop; "
                                         "iif lo accept; }}\n"
                                         "  chain out {{ type filter hook output priority -200; policy drop; "
                                         "oif lo accept; }}\n"
                                         "}}\n"
                                         "EOF",
                                         ns),
                             &rc);
        REQUIRE_MESSAGE(rc == 0, "nft failed: " << out);
    }
    ~partition() {
        run_shell(fmt::format("ip netns exec {} nft delete table inet kp_partition 2>/dev/null", ns));
    }
    partition(const partition&) = delete;
    partition& operator=(const partition&) = delete;
};

/// The running kperf-plan agents in fixture host `i`'s namespace.
std::set<pid_t> agents_in(const netns_hosts& f, std::size_t i) {
    std::set<pid_t> out;
    for (pid_t p : f.pids(i))
        if (is_live_agent(p)) out.insert(p);
    return out;
}

} // namespace

TEST_SUITE_BEGIN("e2e-keepalive");

TEST_CASE("e2e: a lasting partition of the server: with --keepalive 500ms its agent exits within 5 s, "
          "putting back its setup, and the runner gives the host up") {
    if (skip_without_netns()) return;
    if (!kp::test::have_nft()) return kp::test::skip("needs nft (apt-get install nftables)");
    netns_hosts f(2);
    scratch s;
    const auto& a = f.hosts()[0];
    const auto& b = f.hosts()[1];
    const fs::path undone = s / "undone"; // the namespaces share this file system
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-partition
hosts:
  a: {{ssh: "root@{}", identity: "{}", address: "{}"}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 5s}}
setups:
  mark:
    hosts:
      b: {{run: ["true"], undo: ["touch {}"]}}
scenarios:
  - {{name: long, traffic: tcp_rr, client: a, server: b, duration: 60s, warmup: 200ms, setup: mark}}
)",
                                                 a.address, f.key(), a.address, b.address, f.key(), b.address,
                                                 undone.string()));
    runner_process run(
        {plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts(), "--keepalive", "500ms"},
        s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/1\] long)"), 60s).empty(), run.log());
    std::this_thread::sleep_for(1s); // traffic is running
    const auto agents = agents_in(f, 1);
    REQUIRE_MESSAGE(agents.size() == 1, run.log());
    const pid_t agent = *agents.begin();
    CHECK_FALSE(fs::exists(undone));

    partition cut(b.ns);
    const auto dropped = clock_type::now();
    const auto give_up = dropped + 10s;
    while (is_live_agent(agent) && clock_type::now() < give_up)
        std::this_thread::sleep_for(50ms);
    const double gone = std::chrono::duration<double>(clock_type::now() - dropped).count();
    MESSAGE(fmt::format("the partitioned agent exited {:.2f} s after the drop", gone));
    CHECK_MESSAGE(!is_live_agent(agent), "the agent on b is still running 10 s after the drop");
    CHECK(gone < 5.0);
    // It waited out its idle limit (2 s), counted from the last ping before the drop, which may
    // have come up to an interval and a pinger tick (625 ms) earlier.
    CHECK(gone > 1.0);
    CHECK_MESSAGE(fs::exists(undone), "the agent did not put back its setup on its way out");

    // The runner gave b up at its own idle limit instead of waiting out the 60 s instance.
    const int code = run.wait(40s);
    const double ended = std::chrono::duration<double>(clock_type::now() - dropped).count();
    MESSAGE(fmt::format("the runner exited {:.2f} s after the drop", ended));
    INFO(run.log());
    CHECK(code == 3);
    CHECK(ended < 30.0);
    CHECK(contains(run.log(), "agent on host b stopped answering: nothing received for 2 s (keepalive probes "
                              "every 500 ms)"));
}

TEST_SUITE_END();
