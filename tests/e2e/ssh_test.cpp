// End to end across hosts: two network namespaces with sshd (tests/netns), the runner deploying
// itself to both over SSH, and a host whose sshd is gone. Skips where namespaces are unavailable.
#include "e2e_util.hpp"

#include <fmt/format.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;

namespace {

/// A plan whose hosts a and b are the fixture's hosts 1 and 2, reached over SSH with its key.
std::string ssh_plan(const netns_hosts& f, const std::string& name, const std::string& scenarios) {
    const auto& a = f.hosts().at(0).address;
    const auto& b = f.hosts().at(1).address;
    return fmt::format(R"(version: 1
name: {}
hosts:
  a: {{ssh: "root@{}", identity: "{}", address: "{}"}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 5s}}
defaults: {{duration: 500ms, warmup: 200ms}}
scenarios:
{})",
                       name, a, f.key(), a, b, f.key(), b, scenarios);
}

/// The interface addresses an environment manifest lists.
std::set<std::string> addresses_of(const json& environment) {
    std::set<std::string> out;
    for (const auto& i : environment.value("interfaces", json::array()))
        for (const auto& a : i.value("addresses", json::array()))
            out.insert(a.get<std::string>());
    return out;
}

} // namespace

TEST_SUITE_BEGIN("e2e-ssh");

TEST_CASE("e2e: tcp_rr between two SSH hosts; both environment manifests are in results.json") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    auto plan = s.write("plan.yaml", ssh_plan(f, "e2e-ssh", R"(  - name: rr
    traffic: tcp_rr
    client: a
    server: b
    request_size: 64
    response_size: 1KiB
)"));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    for (std::size_t i = 0; i < 2; ++i) {
        std::string name = i == 0 ? "a" : "b";
        const auto& host = doc["hosts"][name];
        const auto& addr = f.hosts()[i].address;
        INFO("host " << name);
        CHECK(host["transport"] == fmt::format("ssh root@{}:22", addr));
        CHECK(host["failure"].is_null());
        const auto& env = host["environment"];
        CHECK(!env.value("kernel", "").empty());
        CHECK(env.value("cpu_count", 0) >= 1);
        CHECK(env["sysctls"].contains("net.ipv4.tcp_congestion_control"));
        // The manifest was taken inside that host's namespace: its eth0 has the host's address.
        CHECK(addresses_of(env).contains(addr));
        CHECK(addresses_of(host["capabilities"]).contains(addr));
    }
    const auto& rr = instance_of(doc, "rr");
    CHECK(rr["status"] == "ok");
    CHECK(rr["client_host"] == "a");
    CHECK(rr["server_host"] == "b");
    CHECK(rr["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>() > 0);
    // The namespaces share one kernel, so one clock: each estimated offset is within 100 us of
    // 0 (issue 12 item 5: it was -2.17 ms), and the uncertainty is reported with it.
    const auto& rep = rr["repeats"][0];
    for (const char* h : {"a", "b"}) {
        MESSAGE("host " << std::string(h) << ": offset " << rep["clock_offset_ns"].value(h, json()).dump()
                        << " ns, uncertainty " << rep["clock_uncertainty_ns"].value(h, json()).dump()
                        << " ns");
        REQUIRE(rep["clock_offset_ns"].contains(h));
        REQUIRE(rep["clock_uncertainty_ns"].contains(h));
        CHECK(std::abs(rep["clock_offset_ns"][h].get<std::int64_t>()) < 100'000);
        CHECK(rep["clock_uncertainty_ns"][h].get<std::int64_t>() > 0);
    }
}

TEST_CASE("e2e: a host whose sshd is down fails its instances with a reason (exit 3); the other host's run") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    f.stop_sshd(0); // host a
    scratch s;
    auto plan = s.write("plan.yaml", ssh_plan(f, "e2e-ssh-down", R"(  - name: cross
    traffic: tcp_rr
    client: a
    server: b
  - name: on-b
    traffic: tcp_rr
    client: b
    server: b
)"));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 60s);
    INFO(r.log);
    CHECK(r.code == 3);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["exit_code"] == 3);
    const auto& a = doc["hosts"]["a"];
    REQUIRE(a["failure"].is_object());
    CHECK(a["failure"]["host"] == "a");
    CHECK(!a["failure"]["error"].get<std::string>().empty());
    CHECK(doc["hosts"]["b"]["failure"].is_null());
    CHECK(addresses_of(doc["hosts"]["b"]["environment"]).contains(f.hosts()[1].address));

    const auto& cross = instance_of(doc, "cross");
    CHECK(cross["status"] == "failed");
    CHECK(cross["failure"]["host"] == "a");
    CHECK(!cross["failure"]["error"].get<std::string>().empty());
    CHECK(cross["repeats"].empty());
    const auto& on_b = instance_of(doc, "on-b");
    CHECK(on_b["status"] == "ok");
    CHECK(on_b["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>() > 0);
    CHECK(std::regex_search(r.log, std::regex(R"(ERROR cross: host a: )")));
}

TEST_CASE("e2e: SIGKILL of the runner mid-run leaves no agent in either SSH host's namespace") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    auto plan = s.write("plan.yaml", ssh_plan(f, "e2e-ssh-kill", R"(  - name: first
    traffic: tcp_stream
    client: a
    server: b
    duration: 1s
  - name: second
    traffic: tcp_stream
    client: b
    server: a
    duration: 1s
)"));
    auto agents_in = [&f](std::size_t i) {
        std::vector<pid_t> out;
        for (pid_t p : f.pids(i))
            if (is_live_agent(p)) out.push_back(p);
        return out;
    };
    runner_process run({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/2\] first)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(500ms); // inside the traffic
    REQUIRE(agents_in(0).size() == 1);
    REQUIRE(agents_in(1).size() == 1);
    run.signal(SIGKILL);
    CHECK(run.wait(5s) == 128 + SIGKILL);
    INFO(run.log());
    // sshd closes the dead session's channel; the agent sees its control stream end and exits.
    auto end = clock_type::now() + 3s;
    while ((!agents_in(0).empty() || !agents_in(1).empty()) && clock_type::now() < end)
        std::this_thread::sleep_for(50ms);
    CHECK(agents_in(0).empty());
    CHECK(agents_in(1).empty());
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(!lines.empty());
    CHECK(lines[0]["type"] == "run");
}

TEST_SUITE_END();
