// Setups end to end, on network-namespace hosts over real sshd: a namespace has its own net.*
// sysctls and its own eth0, so changing them there leaves this machine alone. A sysctl setup is
// applied and put back (read on the host before, during and after, and as the agent saw it); a
// run/undo tc tbf shapes one matrix value only; a failing command fails only its instance; a
// runner killed with SIGKILL leaves the original values within 5 s, over SSH and over exec.
#include "e2e_util.hpp"

#include <fmt/format.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// A plan whose hosts h1..hN are the fixture's, reached over SSH.
std::string setup_plan(const netns_hosts& f, const std::string& name, const std::string& rest) {
    std::string hosts;
    for (std::size_t i = 0; i < f.hosts().size(); ++i) {
        const auto& h = f.hosts()[i];
        hosts += fmt::format("  h{}: {{ssh: \"root@{}\", identity: \"{}\", address: \"{}\"}}\n", i + 1,
                             h.address, f.key(), h.address);
    }
    return fmt::format("version: 1\nname: {}\nhosts:\n{}settings: {{connect_timeout: 10s}}\n{}", name, hosts,
                       rest);
}

/// A sysctl of fixture host `i`, read in its namespace.
std::string sysctl_of(const netns_hosts& f, std::size_t i, const std::string& path) {
    auto v = run_shell(fmt::format("ip netns exec {} cat /proc/sys/{}", f.hosts().at(i).ns, path));
    while (!v.empty() && (v.back() == '\n' || v.back() == ' '))
        v.pop_back();
    return v;
}

/// Polls (bounded) until sysctl `path` of host `i` reads `want`; true when it did within `limit`.
bool sysctl_becomes(const netns_hosts& f, std::size_t i, const std::string& path, const std::string& want,
                    std::chrono::milliseconds limit) {
    const auto end = clock_type::now() + limit;
    do {
        if (sysctl_of(f, i, path) == want) return true;
        std::this_thread::sleep_for(50ms);
    } while (clock_type::now() < end);
    return sysctl_of(f, i, path) == want;
}

/// The column `name` of every data row of a CSV file.
std::vector<std::string> csv_column(const fs::path& p, const std::string& name) {
    auto rows = lines_of(slurp(p));
    REQUIRE(!rows.empty());
    auto header = split(rows[0], ',');
    auto at = std::find(header.begin(), header.end(), name);
    REQUIRE_MESSAGE(at != header.end(), "no column " << name);
    // Appended: after every column that came before it (fairness was the last then).
    auto fairness = std::find(header.begin(), header.end(), "fairness");
    CHECK(fairness != header.end());
    CHECK(at > fairness);
    std::vector<std::string> out;
    for (std::size_t r = 1; r < rows.size(); ++r)
        out.push_back(split(rows[r], ',').at(static_cast<std::size_t>(at - header.begin())));
    return out;
}

constexpr const char* lowat = "net/ipv4/tcp_notsent_lowat";
constexpr const char* somaxconn = "net/core/somaxconn";

} // namespace

TEST_SUITE_BEGIN("e2e-setups");

TEST_CASE("e2e setups: a sysctl setup is applied and put back: on the host before, during and after, and "
          "in results.json as the agent saw it") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    const std::string lowat0 = sysctl_of(f, 1, lowat), somax0 = sysctl_of(f, 1, somaxconn);
    REQUIRE(!lowat0.empty());
    REQUIRE(lowat0 != "12345");
    REQUIRE(somax0 != "1234");
    scratch s;
    auto plan = s.write("plan.yaml", setup_plan(f, "e2e-setup-sysctl", R"(setups:
  default: {}
  lowat: {hosts: {h2: {sysctl: {net.ipv4.tcp_notsent_lowat: 12345, net.core.somaxconn: 1234}}}}
scenarios:
  - name: rr
    traffic: tcp_rr
    client: h1
    server: h2
    duration: 3s
    warmup: 200ms
    matrix: {setup: [lowat, default]}
)"));
    runner_process run({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/2\] rr/setup=lowat)"), 60s).empty(), run.log());
    // During the first instance the host holds the setup's values.
    CHECK(sysctl_becomes(f, 1, lowat, "12345", 5s));
    CHECK(sysctl_of(f, 1, somaxconn) == "1234");
    // The second instance has no changes: the setup was put back before it.
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[2/2\] rr/setup=default)"), 30s).empty(), run.log());
    CHECK(sysctl_becomes(f, 1, lowat, lowat0, 5s));
    CHECK(sysctl_of(f, 1, somaxconn) == somax0);
    REQUIRE_MESSAGE(run.wait(60s) == 0, run.log());
    CHECK(sysctl_of(f, 1, lowat) == lowat0);
    CHECK(sysctl_of(f, 1, somaxconn) == somax0);

    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    const auto& a = instance_of(doc, "rr/setup=lowat");
    CHECK(a["status"] == "ok");
    REQUIRE(a["setup"].is_object());
    CHECK(a["setup"]["name"] == "lowat");
    REQUIRE(a["setup"]["hosts"].size() == 1);
    const auto& h = a["setup"]["hosts"][0];
    CHECK(h["host"] == "h2");
    REQUIRE(h["sysctl"].size() == 2);
    CHECK(h["sysctl"][0]["name"] == "net.ipv4.tcp_notsent_lowat");
    CHECK(h["sysctl"][0]["before"] == lowat0);
    CHECK(h["sysctl"][0]["after"] == "12345");
    CHECK(h["sysctl"][1]["before"] == somax0);
    CHECK(h["sysctl"][1]["after"] == "1234");
    const auto& b = instance_of(doc, "rr/setup=default");
    CHECK(b["status"] == "ok");
    CHECK(b["setup"]["name"] == "default");
    CHECK(b["setup"]["hosts"].empty());
    CHECK(csv_column(s / "out" / "results.csv", "setup") == std::vector<std::string>{"lowat", "default"});
}

TEST_CASE("e2e setups: a run/undo tc tbf setup shapes the throughput of its matrix value and no other") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    scratch s;
    // h1 sends; its eth0 egress is what the tbf shapes. `slow` comes first: the next instance
    // measures only if undo ran.
    auto r = run_plan(f, s, setup_plan(f, "e2e-setup-tbf", R"(setups:
  default: {}
  slow:
    hosts:
      h1:
        run: ["tc qdisc replace dev eth0 root tbf rate 40mbit burst 32kb latency 50ms"]
        undo: ["tc qdisc del dev eth0 root"]
scenarios:
  - name: bulk
    traffic: tcp_stream
    client: h1
    server: h2
    duration: 2s
    warmup: 500ms
    matrix: {setup: [slow, default]}
)"));
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    const auto& slow = instance_of(doc, "bulk/setup=slow");
    const auto& dflt = instance_of(doc, "bulk/setup=default");
    double shaped = metric_of(slow, "throughput_bps"), free = metric_of(dflt, "throughput_bps");
    MESSAGE(fmt::format("tcp_stream h1 -> h2: setup=slow {:.1f} Mbit/s, setup=default {:.1f} Mbit/s",
                        shaped / 1e6, free / 1e6));
    CHECK(shaped < 40e6 * 1.1);
    CHECK(shaped > 40e6 * 0.5);
    CHECK(free > 3 * shaped);
    const auto& cmds = slow["setup"]["hosts"][0]["commands"];
    REQUIRE(cmds.size() == 1);
    CHECK(cmds[0]["exit_code"] == 0);
    CHECK(
        !contains(run_shell(fmt::format("ip netns exec {} tc qdisc show dev eth0", f.hosts()[0].ns)), "tbf"));
}

TEST_CASE("e2e setups: a failing setup command fails only its instance, exit 3, with its stderr; what it "
          "had changed is put back") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    const std::string lowat0 = sysctl_of(f, 1, lowat);
    scratch s;
    const fs::path undone = s / "undone";
    auto r = run_plan(f, s, setup_plan(f, "e2e-setup-fail", R"(setups:
  broken:
    hosts:
      h2:
        sysctl: {net.ipv4.tcp_notsent_lowat: 11111}
        run: ["echo 'no such device: eth7' >&2; exit 7"]
        undo: ["touch )" + undone.string() + R"("]
scenarios:
  - {name: before, traffic: tcp_rr, client: h1, server: h2, duration: 500ms, warmup: 100ms}
  - {name: bad, traffic: tcp_rr, client: h1, server: h2, duration: 500ms, warmup: 100ms, setup: broken}
  - {name: after, traffic: tcp_rr, client: h1, server: h2, duration: 500ms, warmup: 100ms}
)"));
    INFO(r.log);
    CHECK(r.code == 3);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(instance_of(doc, "before")["status"] == "ok");
    CHECK(instance_of(doc, "after")["status"] == "ok");
    const auto& bad = instance_of(doc, "bad");
    CHECK(bad["status"] == "failed");
    CHECK(bad["repeats"].empty()); // failed before any traffic
    CHECK(bad["failure"]["host"] == "h2");
    CHECK(bad["failure"]["step"] == "setup broken");
    const std::string error = bad["failure"]["error"];
    CHECK(error == "run 'echo 'no such device: eth7' >&2; exit 7': exit 7: no such device: eth7");
    CHECK(bad["setup"]["name"] == "broken");
    CHECK(bad["setup"]["hosts"].empty()); // h2 was the first host: nothing stayed applied
    CHECK(contains(r.log, "ERROR bad: host h2: setup broken: run 'echo"));
    CHECK(sysctl_of(f, 1, lowat) == lowat0);
    CHECK(fs::exists(undone)); // a command had run: undo ran too
    CHECK(contains(slurp(s / "out" / "results.csv"), "no such device: eth7"));
}

TEST_CASE("e2e setups: SIGKILL of the runner during an instance whose setup changed a sysctl leaves the "
          "original value within 5 s, over SSH and over exec") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    const std::string ssh0 = sysctl_of(f, 1, lowat), exec0 = sysctl_of(f, 0, lowat);
    REQUIRE(ssh0 != "23456");
    REQUIRE(exec0 != "23456");
    scratch s;
    // h1 through `ip netns exec` (a local child, like a local agent), h2 over SSH.
    const auto& h1 = f.hosts()[0];
    const auto& h2 = f.hosts()[1];
    auto plan = s.write("plan.yaml", fmt::format(R"(version: 1
name: e2e-setup-kill
hosts:
  h1: {{exec: [ip, netns, exec, {}], address: "{}"}}
  h2: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 10s}}
setups:
  lowat:
    hosts:
      h2: {{sysctl: {{net.ipv4.tcp_notsent_lowat: 23456}}}}
      h1: {{sysctl: {{net.ipv4.tcp_notsent_lowat: 23456}}}}
scenarios:
  - {{name: long, traffic: tcp_rr, client: h1, server: h2, duration: 30s, setup: lowat}}
)",
                                                 h1.ns, h1.address, h2.address, f.key(), h2.address));
    runner_process run({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/1\] long)"), 60s).empty(), run.log());
    REQUIRE(sysctl_becomes(f, 1, lowat, "23456", 5s));
    REQUIRE(sysctl_becomes(f, 0, lowat, "23456", 5s));
    std::this_thread::sleep_for(500ms); // traffic is running
    run.signal(SIGKILL);
    CHECK(run.wait(5s) == 128 + SIGKILL);
    const auto killed = clock_type::now();

    CHECK_MESSAGE(sysctl_becomes(f, 1, lowat, ssh0, 5s), "over SSH: " << sysctl_of(f, 1, lowat));
    CHECK_MESSAGE(sysctl_becomes(f, 0, lowat, exec0, 5s), "over exec: " << sysctl_of(f, 0, lowat));
    MESSAGE(fmt::format("original values back {:.2f} s after the SIGKILL",
                        std::chrono::duration<double>(clock_type::now() - killed).count()));
}

TEST_CASE("e2e setups: a group's setup holds on every host it names for all members at once; recorded on "
          "the group, and each member's CSV row names it") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    const std::string a0 = sysctl_of(f, 0, somaxconn), b0 = sysctl_of(f, 1, somaxconn);
    REQUIRE(a0 != "2345");
    REQUIRE(b0 != "2345");
    scratch s;
    auto r = run_plan(f, s, setup_plan(f, "e2e-setup-group", R"(setups:
  backlog:
    hosts:
      h2: {sysctl: {net.core.somaxconn: 2345}}
      h1: {sysctl: {net.core.somaxconn: 2345}}
scenarios:
  - name: g
    client: h1
    server: h2
    duration: 1s
    warmup: 200ms
    setup: backlog
    group:
      - {name: up, traffic: tcp_stream}
      - {name: probe, traffic: tcp_rr, rate: 100/s}
)"));
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    const auto& g = instance_of(doc, "g");
    REQUIRE(g["setup"].is_object());
    CHECK(g["setup"]["name"] == "backlog");
    REQUIRE(g["setup"]["hosts"].size() == 2);
    CHECK(g["setup"]["hosts"][0]["host"] == "h2"); // in the order written
    CHECK(g["setup"]["hosts"][0]["sysctl"][0]["before"] == b0);
    CHECK(g["setup"]["hosts"][1]["host"] == "h1");
    CHECK(g["setup"]["hosts"][1]["sysctl"][0]["after"] == "2345");
    for (const auto& m : g["group"]["members"])
        CHECK_FALSE(m.contains("setup"));
    CHECK(csv_column(s / "out" / "results.csv", "setup") ==
          std::vector<std::string>{"backlog", "backlog", "backlog"});
    CHECK(sysctl_of(f, 0, somaxconn) == a0);
    CHECK(sysctl_of(f, 1, somaxconn) == b0);
}

TEST_SUITE_END();
