// tcp_crr: each `close` mode ends connections as it says (checked by the TIME_WAITs it leaves,
// and the server counting every connection), and over a veth pair between two namespaces the
// default keeps the rate far above what a TIME_WAIT-starved client reaches (~700/s).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include <doctest/doctest.h>

#include "session_fixture.hpp"
#include "skip.hpp"

namespace kp::engine::test {
namespace {

/// TIME_WAIT sockets in this namespace whose local (`local`) or remote port is `port`.
int time_waits(std::uint16_t port, bool local) {
    int n = 0;
    for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(file);
        std::string line;
        std::getline(in, line); // header
        while (std::getline(in, line)) {
            std::istringstream row(line);
            std::string slot, la, ra, st;
            row >> slot >> la >> ra >> st;
            if (st != "06") continue;
            const std::string& a = local ? la : ra;
            auto colon = a.rfind(':');
            if (colon != std::string::npos && std::stoul(a.substr(colon + 1), nullptr, 16) == port) ++n;
        }
    }
    return n;
}

struct close_case {
    crr_close mode;
    const char* name;
};

} // namespace

TEST_CASE("tcp_crr: each close mode ends connections as it says") {
    for (auto [mode, name] : {close_case{crr_close::reset, "reset"}, close_case{crr_close::client, "client"},
                              close_case{crr_close::server, "server"}}) {
        const std::string mode_name = name;
        CAPTURE(mode_name);
        job_spec job = short_job(traffic::tcp_crr, 300ms);
        job.close = mode;
        auto srv = listen(job, {"127.0.0.1", 0});
        REQUIRE(srv.has_value());
        const std::uint16_t port = (*srv)->port();
        auto r = run_with(**srv, job);
        const auto conns = total(r.client, &flow_result::connections);
        CHECK(conns > 100);
        // One transaction per connection, counted at the same instant.
        CHECK(total(r.client, &flow_result::transactions) == conns);
        CHECK(total(r.server, &flow_result::transactions) == total(r.server, &flow_result::connections));
        // The server counts a connection only once it has seen the end it expects (a FIN, or
        // the RST with reset): a wrong end counts as a read error. Each side's window opens when
        // its own clock thread releases its workers, so the two windows are apart by a wake-up
        // (about a millisecond on a busy machine): allow 1% at the edges besides 16.
        CHECK(total(r.server, &flow_result::connections) + 16 + conns / 100 >= conns);
        CHECK(r.server.errors.read == 0);
        CHECK(r.client.errors.read == 0);
        CHECK(r.client.errors.connect == 0);
        CHECK(r.client.close_latency.count() > 0);
        const int client_tw = time_waits(port, false), server_tw = time_waits(port, true);
        MESSAGE(mode_name, ": ", conns, " connections; TIME_WAIT client ", client_tw, ", server ", server_tw);
        if (mode == crr_close::reset) {
            CHECK(client_tw < 16); // only the window-end and probe closes
            CHECK(server_tw < 16);
        } else if (mode == crr_close::client) {
            CHECK(std::uint64_t(client_tw) + 16 >= conns / 2);
        } else {
            CHECK(std::uint64_t(server_tw) + 16 >= conns / 2);
            CHECK(client_tw < 16);
        }
    }
}

namespace {

/// Two namespaces joined by a veth pair, 198.18.77.1 (client) and .2 (server); torn down on exit.
struct veth_pair {
    std::string c = "kpcrr-c-" + std::to_string(::getpid()), s = "kpcrr-s-" + std::to_string(::getpid());
    bool ok = false;
    veth_pair() {
        const std::string cmd = "ip netns add " + c + " && ip netns add " + s +
                                " && ip link add kpcrra netns " + c + " type veth peer kpcrrb netns " + s +
                                " && ip -n " + c + " addr add 198.18.77.1/24 dev kpcrra && ip -n " + s +
                                " addr add 198.18.77.2/24 dev kpcrrb && ip -n " + c +
                                " link set kpcrra up && ip -n " + s + " link set kpcrrb up && ip -n " + c +
                                " link set lo up && ip -n " + s + " link set lo up";
        ok = std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
    }
    ~veth_pair() {
        std::system(("ip netns del " + c + " 2>/dev/null; ip netns del " + s + " 2>/dev/null").c_str());
    }
};

/// Moves the calling thread (and the threads it starts) into namespace `ns`.
bool enter(const std::string& ns) {
    int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    return ok;
}

/// Runs `job` with the server in `v.s` and the client in `v.c`; returns the client's connections.
pair_result run_pair_over_veth(const veth_pair& v, const job_spec& job, int* client_tw = nullptr) {
    std::atomic<int> port{0};
    pair_result r;
    bool server_ok = false, client_ok = false;
    std::thread srv_thread([&] {
        if (!enter(v.s)) {
            port = -1;
            return;
        }
        auto srv = listen(job, {"198.18.77.2", 0});
        if (!srv) {
            port = -1;
            return;
        }
        port = (*srv)->port();
        auto deadline = std::chrono::steady_clock::now() + 10s;
        if (!(*srv)->establish(deadline) || !(*srv)->start()) return;
        server_ok = (*srv)->wait(std::chrono::steady_clock::now() + job.warmup + job.duration + 5s);
        r.server = (*srv)->collect();
    });
    std::thread cli_thread([&] {
        if (!enter(v.c)) return;
        for (int i = 0; i < 1000 && port == 0; ++i)
            std::this_thread::sleep_for(10ms);
        if (port <= 0) return;
        auto cli = connect(job, {"198.18.77.2", static_cast<std::uint16_t>(port.load())});
        if (!cli) return;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        if (!(*cli)->establish(deadline) || !(*cli)->start()) return;
        client_ok = (*cli)->wait(std::chrono::steady_clock::now() + job.warmup + job.duration + 5s);
        r.client = (*cli)->collect();
        if (client_tw) *client_tw = time_waits(static_cast<std::uint16_t>(port.load()), false);
    });
    cli_thread.join();
    srv_thread.join();
    REQUIRE(server_ok);
    REQUIRE(client_ok);
    return r;
}

std::uint64_t run_over_veth(const veth_pair& v, const job_spec& job, int* client_tw = nullptr) {
    return total(run_pair_over_veth(v, job, client_tw).client, &flow_result::connections);
}

/// TcpRetransSegs of namespace `ns` (/proc/net/snmp), or -1.
long retrans_segs(const std::string& ns) {
    FILE* p = ::popen(("ip netns exec " + ns + " cat /proc/net/snmp").c_str(), "r");
    if (p == nullptr) return -1;
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
        text.append(buf, n);
    ::pclose(p);
    // Two "Tcp:" lines: the names, then the values.
    std::istringstream in(text);
    std::string line, names;
    while (std::getline(in, line)) {
        if (!line.starts_with("Tcp:")) continue;
        if (names.empty()) {
            names = line;
            continue;
        }
        std::istringstream n(names), v(line);
        std::string name, value;
        while (n >> name && v >> value)
            if (name == "RetransSegs") return std::stol(value);
    }
    return -1;
}

} // namespace

TEST_CASE("tcp_crr over veth: the default close leaves no TIME_WAIT on the client") {
    if (::geteuid() != 0) return kp::test::skip("needs root for network namespaces");
    veth_pair v;
    if (!v.ok) return kp::test::skip("could not create namespaces and a veth pair");
    job_spec job = short_job(traffic::tcp_crr, 2000ms);
    job.warmup = 200ms;
    int tw = -1;
    const std::uint64_t conns = run_over_veth(v, job, &tw);
    const double rate = double(conns) / 2.0;
    MESSAGE("veth, close server (default): ", rate, " connections/s, client TIME_WAITs ", tw);
    // How fast is bench/'s business (this VM has shown 3.4k to 14k/s); here it only has to run.
    // With close: client, every connection leaves a TIME_WAIT on the client, which runs a long
    // test out of ephemeral ports; the default leaves them on the server.
    CHECK(rate > 500);
    CHECK(tw < 16);
    if (std::getenv("KP_CRR_ALL_MODES") != nullptr) { // measurement aid: the other modes too
        for (crr_close m : {crr_close::reset, crr_close::client}) {
            job.close = m;
            MESSAGE("veth, close ", std::string(m == crr_close::reset ? "reset" : "client"), ": ",
                    double(run_over_veth(v, job)) / 2.0, " connections/s");
        }
    }
}

TEST_CASE("tcp_crr over veth: retransmits of the short connections are counted, as the kernel counts them") {
    if (::geteuid() != 0) return kp::test::skip("needs root for network namespaces");
    veth_pair v;
    if (!v.ok) return kp::test::skip("could not create namespaces and a veth pair");
    // Drop 3% of what the server receives: lost SYNs, requests and ACKs are retransmitted.
    const std::string nft = "printf 'table inet kpcrr {\\n chain input {\\n  type filter hook input priority 0;"
                            "\\n  meta l4proto tcp numgen random mod 100 < 3 drop\\n }\\n}\\n' | ip netns exec " +
                            v.s + " nft -f - >/dev/null 2>&1";
    if (std::system(nft.c_str()) != 0) return kp::test::skip("nftables is not available");
    job_spec job = short_job(traffic::tcp_crr, 1500ms);
    job.flows = 16;
    job.warmup = 200ms;
    const long c0 = retrans_segs(v.c), s0 = retrans_segs(v.s);
    REQUIRE(c0 >= 0);
    auto r = run_pair_over_veth(v, job);
    const long kernel = retrans_segs(v.c) - c0 + retrans_segs(v.s) - s0;
    const auto ours = r.client.totals.total_retrans + r.server.totals.total_retrans;
    MESSAGE("retransmits: ours ", ours, " over the window, the namespaces' TcpRetransSegs ", kernel,
            " over the whole run, ", total(r.client, &flow_result::connections), " connections");
    CHECK(ours > 0);
    // The namespaces count the warm-up, the linger and the setup too: never fewer than ours.
    CHECK(long(ours) <= kernel);
    CHECK(double(ours) >= 0.2 * double(kernel));
}

} // namespace kp::engine::test
