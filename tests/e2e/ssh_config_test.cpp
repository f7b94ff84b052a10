// End to end as users reach hosts: an ssh_config alias (User, Port, IdentityFile from the file) and
// a host whose sshd answers only a jump host, reached via ProxyJump and via jump:.
#include "e2e_util.hpp"

#include <fmt/format.h>

#include <fstream>

#include "netns_fixture.hpp"
#include "ssh_topology.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;

TEST_SUITE_BEGIN("e2e-sshcfg");

TEST_CASE(
    "e2e: tcp_rr to an ssh_config alias, and to a host behind a jump host via ProxyJump and via jump:") {
    if (skip_without_netns()) return;
    if (!kp::test::have_nft()) return kp::test::skip("needs nft (apt-get install nftables)");
    netns_hosts f(2);
    kp::test::second_sshd(f, 0, 2222);
    kp::test::sshd_only_from(f, 1, 0);
    const auto& h1 = f.hosts()[0].address;
    const auto& h2 = f.hosts()[1].address;
    scratch s;
    auto cfg = s.write("ssh_config", fmt::format(R"(Host lab
  HostName {0}
  User root
  Port 2222
  IdentityFile {2}
Host bastion
  HostName {0}
  User root
  IdentityFile {2}
Host tgt
  HostName {1}
  User root
  IdentityFile {2}
  ProxyJump bastion
)",
                                                 h1, h2, f.key()));
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-sshcfg
settings: {{ssh_config: "{0}", connect_timeout: 5s}}
hosts:
  a: {{ssh: lab, address: "{1}"}}
  b: {{ssh: tgt, address: "{2}"}}
  c: {{ssh: "root@{2}", jump: "root@{1}", identity: "{3}", address: "{2}"}}
defaults: {{duration: 500ms, warmup: 200ms, traffic: tcp_rr, client: a}}
scenarios:
  - {{name: proxyjump, server: b}}
  - {{name: jump, server: c}}
)",
                                                 cfg.string(), h1, h2, f.key()));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 90s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["hosts"]["a"]["transport"] == fmt::format("ssh root@{}:2222", h1));
    CHECK(doc["hosts"]["b"]["transport"] == fmt::format("ssh root@{}:22 via root@{}:22", h2, h1));
    CHECK(doc["hosts"]["c"]["transport"] == fmt::format("ssh root@{}:22 via root@{}:22", h2, h1));
    for (const char* id : {"proxyjump", "jump"}) {
        INFO(id);
        const auto& inst = instance_of(doc, id);
        CHECK(inst["status"] == "ok");
        CHECK(inst["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>() > 0);
    }
}

TEST_CASE("e2e: SIGKILL of the runner leaves no agent on a host reached through a jump host") {
    if (skip_without_netns()) return;
    if (!kp::test::have_nft()) return kp::test::skip("needs nft (apt-get install nftables)");
    netns_hosts f(2);
    kp::test::sshd_only_from(f, 1, 0);
    const auto& h1 = f.hosts()[0].address;
    const auto& h2 = f.hosts()[1].address;
    scratch s;
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-sshcfg-kill
settings: {{ssh_config: none}}
hosts:
  a: {{ssh: "root@{0}", identity: "{2}"}}
  b: {{ssh: "root@{1}", jump: "root@{0}", identity: "{2}"}}
scenarios:
  - {{name: long, traffic: tcp_stream, client: a, server: b, duration: 5s, warmup: 0s}}
)",
                                                 h1, h2, f.key()));
    auto agents_in = [&f](std::size_t i) {
        std::vector<pid_t> out;
        for (pid_t p : f.pids(i))
            if (is_live_agent(p)) out.push_back(p);
        return out;
    };
    runner_process run({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/1\] long)"), 30s).empty(), run.log());
    REQUIRE(agents_in(1).size() == 1);
    run.signal(SIGKILL);
    CHECK(run.wait(5s) == 128 + SIGKILL);
    auto end = clock_type::now() + 3s;
    while ((!agents_in(0).empty() || !agents_in(1).empty()) && clock_type::now() < end)
        std::this_thread::sleep_for(50ms);
    CHECK(agents_in(0).empty());
    CHECK(agents_in(1).empty());
}

TEST_SUITE_END();
