// End to end on loopback: TLS modes as a plan asks for them, and the TLS path the results record.
// This machine's kernel may lack the TLS ULP (CONFIG_TLS off); `ktls` must then fail its instance
// (exit 3) naming the host and the missing ULP, and `auto` must fall back to user space.
#include "e2e_util.hpp"

using namespace kp::e2e;

namespace {

/// Every flow of both sides of every repeat: (side, TLS report).
std::vector<std::pair<std::string, json>> flow_tls(const json& instance) {
    std::vector<std::pair<std::string, json>> out;
    for (const auto& rep : instance["repeats"])
        for (const char* side : {"client", "server"})
            for (const auto& f : rep[side]["flows"])
                out.emplace_back(side, f["tls"]);
    return out;
}

} // namespace

TEST_SUITE_BEGIN("e2e-tls");

TEST_CASE(
    "e2e: tls ktls without the kernel's TLS ULP fails that instance only, naming host and ULP; exit 3") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-ktls
hosts: {me: {}}
defaults: {client: me, server: me, duration: 300ms, warmup: 200ms}
scenarios:
  - name: kernel
    traffic: tcp_stream
    tls: ktls
  - name: plain
    traffic: tcp_stream
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    auto doc = load_json(s / "out" / "results.json");
    if (doc["hosts"]["me"]["capabilities"].value("ktls", false)) {
        kp::test::skip("this kernel has the TLS ULP (kTLS works), so `tls: ktls` cannot be shown to fail");
        CHECK(r.code == 0);
        return;
    }
    CHECK(r.code == 3);
    CHECK(schema_errors(s / "out") == "");
    CHECK(doc["exit_code"] == 3);
    const auto& kernel = instance_of(doc, "kernel");
    CHECK(kernel["status"] == "failed");
    CHECK(kernel["failure"]["host"] == "me");
    CHECK(kernel["failure"]["step"] == "listen kernel#0/server");
    CHECK(contains(kernel["failure"]["error"], "no TLS ULP"));
    CHECK(contains(
        r.log, "ERROR kernel: host me: listen kernel#0/server: kTLS requested but kernel has no TLS ULP"));
    CHECK(kernel["repeats"].empty());
    const auto& plain = instance_of(doc, "plain");
    CHECK(plain["status"] == "ok");
    CHECK(plain["failure"].is_null());
    CHECK(plain["aggregate"]["metrics"]["throughput_bps"]["value"].get<double>() > 0);
    for (const auto& [side, tls] : flow_tls(plain))
        CHECK(tls["tx_path"] == "none");
    // The summary says which instance failed, on which host, and why.
    CHECK(std::regex_search(r.log, std::regex(R"(ERROR kernel: host me: .*no TLS ULP)")));
}

TEST_CASE("e2e: tls auto falls back to user space; openssl 1.2 and 1.3 with verify run stream, rr and crr") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-tls
hosts: {me: {}}
defaults: {client: me, server: me, duration: 300ms, warmup: 200ms}
scenarios:
  - name: auto
    traffic: tcp_stream
    tls: auto
  - name: stream
    traffic: tcp_stream
    tls: openssl
    verify: true
    matrix: {tls_version: [1.2, 1.3]}
  - name: rr
    traffic: tcp_rr
    tls: openssl
    verify: true
    matrix: {tls_version: [1.2, 1.3]}
  - name: crr
    traffic: tcp_crr
    tls: openssl
    verify: true
    matrix: {tls_version: [1.2, 1.3]}
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 80s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    bool has_ktls = doc["hosts"]["me"]["capabilities"].value("ktls", false);
    REQUIRE(doc["instances"].size() == 7);

    const auto& autom = instance_of(doc, "auto");
    CHECK(autom["status"] == "ok");
    auto flows = flow_tls(autom);
    REQUIRE(!flows.empty());
    for (const auto& [side, tls] : flows) {
        INFO(side << ": " << tls.dump());
        if (has_ktls) {
            CHECK(tls["tx_path"] == "kernel");
        } else {
            CHECK(tls["tx_path"] == "user");
            CHECK(tls["rx_path"] == "user");
            CHECK(contains(tls["note"], "user space")); // why auto did not use the kernel
        }
    }

    for (std::string traffic : {"stream", "rr", "crr"})
        for (std::string version : {"1.2", "1.3"}) {
            const auto& inst = instance_of(doc, traffic + "/tls_version=" + version);
            INFO(inst["id"].get<std::string>());
            CHECK(inst["status"] == "ok");
            CHECK(inst["client_job"]["tls"]["mode"] == "openssl");
            CHECK(inst["client_job"]["verify"] == true);
            CHECK(inst["client_job"]["tls"]["cipher"] == "aes-128-gcm"); // as a plan spells it
            REQUIRE(inst["repeats"].size() == 1);
            const auto& rep = inst["repeats"][0];
            CHECK(rep["client"]["errors"]["verify"] == 0);
            CHECK(rep["server"]["errors"]["verify"] == 0);
            // The crr client times every connection's handshake; the other kinds handshake before
            // the window. tls_stat is there on every side ({} without kernel TLS).
            const auto handshakes = rep["client"]["handshake_latency"]["count"].get<std::uint64_t>();
            if (traffic == "crr")
                CHECK(handshakes > 0);
            else
                CHECK(handshakes == 0);
            CHECK(inst["aggregate"]["handshake_latency_histogram"]["count"] == handshakes); // one repeat
            for (const char* side : {"client", "server"})
                CHECK(rep[side]["tls_stat"].is_object());
            CHECK(rep["metrics"].value(traffic == "stream" ? "throughput_bps" : "transactions_per_s", 0.0) >
                  0);
            for (const auto& [side, tls] : flow_tls(inst)) {
                // tcp_crr's server side keeps no per-connection TLS report (engine/traffic/crr.cpp drops it).
                if (traffic == "crr" && side == "server") continue;
                INFO(side << ": " << tls.dump());
                CHECK(tls["tx_path"] == "user");
                CHECK(tls["rx_path"] == "user");
                CHECK(tls["version"] == "TLSv" + version);
            }
        }
}

TEST_CASE("e2e: on_error abort after a failed ktls instance skips the rest; status aborted, exit 3") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-abort
hosts: {me: {}}
defaults: {client: me, server: me, duration: 200ms, warmup: 200ms, traffic: tcp_rr}
scenarios:
  - name: before
  - name: kernel
    traffic: tcp_stream
    tls: ktls
    on_error: abort
  - name: after
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    auto doc = load_json(s / "out" / "results.json");
    if (doc["hosts"]["me"]["capabilities"].value("ktls", false)) {
        kp::test::skip("this kernel has the TLS ULP, so `tls: ktls` does not fail here");
        return;
    }
    CHECK(r.code == 3);
    CHECK(schema_errors(s / "out") == "");
    CHECK(doc["status"] == "aborted");
    CHECK(instance_of(doc, "before")["status"] == "ok");
    CHECK(instance_of(doc, "kernel")["status"] == "failed");
    CHECK(instance_of(doc, "after")["status"] == "skipped");
    CHECK(instance_of(doc, "after")["repeats"].empty());
    CHECK(contains(r.log, "on_error: abort"));
}

TEST_SUITE_END();
