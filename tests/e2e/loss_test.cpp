// UDP loss end to end: the server runs in a network namespace (tests/netns, real sshd) whose
// nftables input hook drops a known share of the UDP datagrams that reach it (this kernel has no
// netem). loss_ratio must be that share for udp_stream (datagrams) and for udp_rr (transactions:
// a request or its reply); a udp_rr reply later than `timeout` counts as lost.
#include "e2e_util.hpp"

#include <cmath>

#include <fmt/format.h>

#include "netns_fixture.hpp"

using namespace kp::e2e;
using kp::test::netns_hosts;
using kp::test::run_shell;

namespace {

/// An nftables table in namespace `ns` that drops `percent`% of the UDP datagrams arriving
/// there (SSH and the control connections are TCP, so they pass); deleted in the destructor.
struct udp_drop {
    std::string ns;
    udp_drop(std::string n, int percent) : ns(std::move(n)) {
        int rc = 0;
        auto out = run_shell(fmt::format("ip netns exec {} nft -f - 2>&1 <<'EOF'\n"
                                         "table inet kp_loss {{\n"
                                         "  chain in {{\n"
                                         "    type filter hook input priority 0; policy accept;\n"
                                         "    meta l4proto udp numgen random mod 100 < {} drop\n"
                                         "  }}\n"
                                         "}}\n"
                                         "EOF",
                                         ns, percent),
                             &rc);
        REQUIRE_MESSAGE(rc == 0, "nft failed: " << out);
    }
    ~udp_drop() { run_shell(fmt::format("ip netns exec {} nft delete table inet kp_loss 2>/dev/null", ns)); }
    udp_drop(const udp_drop&) = delete;
    udp_drop& operator=(const udp_drop&) = delete;
};

/// Client a is this namespace; server b is the fixture's host 1, reached over SSH.
std::string loss_plan(const netns_hosts& f, const std::string& scenarios) {
    const auto& b = f.hosts().at(0).address;
    return fmt::format(R"(version: 1
name: e2e-loss
hosts:
  a: {{}}
  b: {{ssh: "root@{}", identity: "{}", address: "{}"}}
settings: {{connect_timeout: 5s}}
defaults: {{client: a, server: b, duration: 1500ms, warmup: 300ms}}
scenarios:
{})",
                       b, f.key(), b, scenarios);
}

double loss_of(const json& doc, const std::string& id) {
    const auto& m = instance_of(doc, id)["aggregate"]["metrics"];
    REQUIRE_MESSAGE(m.contains("loss_ratio"), id << " has no loss_ratio");
    return m["loss_ratio"]["value"].get<double>();
}

} // namespace

TEST_SUITE_BEGIN("e2e-loss");

TEST_CASE("e2e: 10% of datagrams dropped at the server: loss_ratio is 10% for udp_stream and udp_rr") {
    if (skip_without_netns()) return;
    int rc = 0;
    run_shell("command -v nft >/dev/null 2>&1", &rc);
    if (rc != 0) {
        kp::test::skip("no nft (apt-get install nftables)");
        return;
    }
    netns_hosts f(1);
    udp_drop drop(f.hosts()[0].ns, 10);
    scratch s;
    // About 15k datagrams and 7.5k transactions in each window: the binomial spread of a 10%
    // share is then 0.3%, far inside the 2% allowance. The 4 MiB receive buffers ride out a busy
    // machine's scheduling stalls, which would otherwise add losses of their own (13% once).
    // udp_rr's requests are dropped on the way in (the replies go to this namespace, which drops
    // nothing). A dropped request holds its slot for the 50 ms timeout: about 6 slots per flow
    // at 250 drops/s, well inside in_flight 64, so the flows keep their rate.
    auto plan = s.write("plan.yaml", loss_plan(f, R"(  - name: stream
    traffic: udp_stream
    write_size: 200
    rate: 10k/s
    rcvbuf: 4MiB
  - name: rr
    traffic: udp_rr
    flows: 2
    rate: 5k/s
    in_flight: 64
    timeout: 50ms
    rcvbuf: 4MiB
)"));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    auto doc = load_json(s / "out" / "results.json");
    MESSAGE(fmt::format("10% dropped: udp_stream loss {:.4f}, udp_rr loss {:.4f}", loss_of(doc, "stream"),
                        loss_of(doc, "rr")));
    // Datagrams the kernel dropped for a full socket buffer are lost too, but not by nftables.
    INFO("server namespace UDP counters: "
         << run_shell(fmt::format("ip netns exec {} grep '^Udp:' /proc/net/snmp", f.hosts()[0].ns)));
    // 10% ± 2 points (doctest::Approx would allow far more: its epsilon scales with 1 + |value|).
    CHECK(std::abs(loss_of(doc, "stream") - 0.10) <= 0.02);
    CHECK(std::abs(loss_of(doc, "rr") - 0.10) <= 0.02);
    // The dropped requests were lost through the timeout path.
    const auto& errors = instance_of(doc, "rr")["repeats"][0]["client"]["errors"];
    INFO(errors.dump());
    CHECK(errors["timeout"].get<double>() > 0);
}

TEST_CASE("e2e: a udp_rr reply later than the timeout counts as lost") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    scratch s;
    // A round trip through the veth pair and the bridge takes tens of microseconds: with a 1 us
    // timeout every reply is late, whether it arrives before the timeout check runs or after.
    auto plan = s.write("plan.yaml", loss_plan(f, R"(  - name: late
    traffic: udp_rr
    rate: 2k/s
    in_flight: 16
    timeout: 1us
)"));
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()},
                       s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    auto doc = load_json(s / "out" / "results.json");
    const auto& m = instance_of(doc, "late")["aggregate"]["metrics"];
    MESSAGE(fmt::format("timeout 1us: loss {:.4f}, {:.0f} transactions/s", loss_of(doc, "late"),
                        m["transactions_per_s"]["value"].get<double>()));
    CHECK(loss_of(doc, "late") >= 0.99);
    CHECK(m["transactions_per_s"]["value"].get<double>() <= 0.01 * 2000);
}

TEST_SUITE_END();
