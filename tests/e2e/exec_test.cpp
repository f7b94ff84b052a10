// End to end over the exec: transport and over SSH without SFTP: hosts in network namespaces
// (tests/netns) reached by `ip netns exec` with no sshd involved, `address: auto`, SIGKILL of the
// runner leaving no agent, and an sshd without a Subsystem line. Skips where namespaces are
// unavailable.
#include "e2e_util.hpp"

#include <sched.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "netns_fixture.hpp"
#include "ssh_topology.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// Hosts a and b are the fixture's namespaces 1 and 2, reached with `ip netns exec`; b's
/// data-plane address is `auto`.
std::string exec_plan(const netns_hosts& f, const std::string& name, const std::string& scenarios) {
    return fmt::format(R"(version: 1
name: {}
hosts:
  a: {{exec: [ip, netns, exec, {}], address: "{}"}}
  b: {{exec: [ip, netns, exec, {}], address: auto}}
defaults: {{duration: 500ms, warmup: 200ms}}
scenarios:
{})",
                       name, f.hosts()[0].ns, f.hosts()[0].address, f.hosts()[1].ns, scenarios);
}

std::vector<pid_t> agents_in(const netns_hosts& f, std::size_t i) {
    std::vector<pid_t> out;
    for (pid_t p : f.pids(i))
        if (is_live_agent(p)) out.push_back(p);
    return out;
}

} // namespace

TEST_SUITE_BEGIN("e2e-exec");

TEST_CASE("e2e: tcp_rr between two exec: [ip, netns, exec, NS] hosts, one with address: auto; the "
          "summary notes that they share one kernel and a server placement that wraps onto the Rx CPU") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    f.stop_sshd(0); // no sshd is involved at all
    f.stop_sshd(1);
    scratch s;
    // The agents inherit this process's CPUs: an offset of their count comes back to the Rx CPU.
    cpu_set_t mine;
    CPU_ZERO(&mine);
    REQUIRE(sched_getaffinity(0, sizeof mine, &mine) == 0);
    const int cpus = CPU_COUNT(&mine);
    auto plan = s.write("plan.yaml", exec_plan(f, "e2e-exec",
                                               fmt::format(R"(  - name: rr
    traffic: tcp_rr
    client: a
    server: b
    placement: {{server: rx+{}}}
)",
                                                           cpus)));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& host = doc["hosts"][i == 0 ? "a" : "b"];
        CHECK(host["transport"] == fmt::format("exec ip netns exec {}", f.hosts()[i].ns));
        CHECK(host["failure"].is_null());
        CHECK(host["address"] == f.hosts()[i].address); // b's from its eth0, the first global address
        REQUIRE(host["deploy"].is_object());
        CHECK((host["deploy"]["method"] == "exec" || host["deploy"]["method"] == "cached"));
    }
    const auto& rr = instance_of(doc, "rr");
    CHECK(rr["status"] == "ok");
    CHECK(rr["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>() > 0);
    // Two namespaces, one kernel: the same boot id, noted once.
    const std::string boot_id = doc["hosts"]["a"]["environment"]["boot_id"];
    CHECK(boot_id.size() == 36);
    CHECK(doc["hosts"]["b"]["environment"]["boot_id"] == boot_id);
    const std::string shared =
        fmt::format("NOTE hosts a, b share one kernel (boot_id {}): ", boot_id.substr(0, 8));
    CHECK(r.log.find(shared) != std::string::npos);
    CHECK(r.log.find(shared) == r.log.rfind(shared));
    const std::string wrap = fmt::format("placement rx+{} wraps onto the Rx CPU itself: {} CPU{} allowed",
                                         cpus, cpus, cpus == 1 ? " is" : "s are");
    CHECK(rr["repeats"][0]["server"]["placement_note"].get<std::string>().starts_with(wrap));
    CHECK(rr["repeats"][0]["client"]["placement_note"] == "");
    CHECK(r.log.find("NOTE rr: server b: " + wrap) != std::string::npos);
}

TEST_CASE("e2e: address: {auto: IFACE} naming a missing interface fails that host with a message") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    scratch s;
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-exec-noif
hosts:
  a: {{exec: [ip, netns, exec, {}], address: {{auto: eth9}}}}
defaults: {{duration: 200ms, warmup: 100ms}}
scenarios:
  - name: rr
    traffic: tcp_rr
    client: a
    server: a
)",
                                                 f.hosts()[0].ns));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    CHECK(r.code == 3);
    auto doc = load_json(s / "out" / "results.json");
    const auto& a = doc["hosts"]["a"];
    REQUIRE(a["failure"].is_object());
    CHECK(a["failure"]["step"] == "address");
    CHECK(a["failure"]["error"] ==
          "address: {auto: eth9}: the host has no interface eth9 (it has: eth0, lo)");
}

TEST_CASE("e2e: SIGKILL of the runner leaves no agent in either exec host's namespace") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    auto plan = s.write("plan.yaml", exec_plan(f, "e2e-exec-kill", R"(  - name: first
    traffic: tcp_rr
    client: a
    server: b
    duration: 2s
)"));
    runner_process run({plan.string(), "-o", (s / "out").string()}, s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/1\] first)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(500ms); // inside the traffic
    REQUIRE(agents_in(f, 0).size() == 1);
    REQUIRE(agents_in(f, 1).size() == 1);
    run.signal(SIGKILL);
    CHECK(run.wait(5s) == 128 + SIGKILL);
    INFO(run.log());
    auto end = clock_type::now() + 3s;
    while ((!agents_in(f, 0).empty() || !agents_in(f, 1).empty()) && clock_type::now() < end)
        std::this_thread::sleep_for(50ms);
    CHECK(agents_in(f, 0).empty());
    CHECK(agents_in(f, 1).empty());
}

TEST_CASE("e2e: an sshd without a Subsystem sftp line deploys over exec and runs; results say exec") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    const auto& h = f.hosts()[0];
    second_sshd(f, 0, 2222, /*sftp=*/false); // a second sshd, on port 2222, without SFTP
    // A copy with a fresh hash, so the deploy must upload.
    scratch s;
    fs::path bin = s / "kperf-plan";
    std::string tested = std::getenv("KPERF_PLAN_BIN");
    fs::copy_file(tested, bin);
    std::ofstream(bin, std::ios::app | std::ios::binary) << "e2e no-sftp nonce " << s.dir;
    fs::permissions(bin, fs::perms(0755));
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-nosftp
hosts:
  a: {{ssh: "root@{0}:2222", identity: "{1}", address: "{0}"}}
defaults: {{duration: 300ms, warmup: 100ms}}
scenarios:
  - name: rr
    traffic: tcp_rr
    client: a
    server: a
)",
                                                 h.address, f.key()));
    ::setenv("KPERF_PLAN_BIN", bin.c_str(), 1); // run_kperf starts this copy
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 60s);
    ::setenv("KPERF_PLAN_BIN", tested.c_str(), 1);
    INFO(r.log);
    CHECK(r.code == 0);
    auto doc = load_json(s / "out" / "results.json");
    const auto& a = doc["hosts"]["a"];
    REQUIRE(a["deploy"].is_object());
    CHECK(a["deploy"]["method"] == "exec");
    CHECK(a["deploy"]["uploaded"] == true);
    CHECK(instance_of(doc, "rr")["status"] == "ok");
    std::error_code ec;
    fs::remove_all(fs::path(a["deploy"]["path"].get<std::string>()).parent_path(), ec);
}

TEST_SUITE_END();
