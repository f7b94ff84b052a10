#include <doctest/doctest.h>

#include "session_fixture.hpp"

using namespace kp::engine;
using namespace kp::engine::test;

namespace {

/// Runs `job` with TLS: the client pins the fingerprint the server reports.
pair_result run_tls(job_spec job) {
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE_MESSAGE(srv.has_value(), (srv ? "" : srv.error().message));
    REQUIRE((*srv)->tls_fingerprint().size() == 64);
    auto client = job;
    client.tls.peer_fingerprint = (*srv)->tls_fingerprint();
    return run_with(**srv, client);
}

} // namespace

TEST_CASE("session: tcp_stream and tcp_rr over user-space TLS deliver verified bytes") {
    for (auto kind : {traffic::tcp_stream, traffic::tcp_rr}) {
        CAPTURE(static_cast<int>(kind));
        auto job = short_job(kind, std::chrono::milliseconds(300));
        job.tls.mode = tls_mode::openssl;
        job.verify = true;
        job.dir = direction::bidir;
        auto r = run_tls(job);
        for (const auto* side : {&r.client, &r.server}) {
            const auto& f = side->flows[0];
            CHECK(f.bytes_received > 0);
            CHECK(f.tls.tx_path == tls_path::user);
            CHECK(f.tls.rx_path == tls_path::user);
            CHECK(f.tls.version == "TLSv1.3");
            CHECK(f.tls.handshake_s > 0);
            CHECK(side->errors.verify == 0);
            CHECK(side->errors.read == 0);
        }
        if (kind == traffic::tcp_rr) CHECK(r.client.flows[0].transactions > 100);
    }
}

TEST_CASE("session: a wrong TLS fingerprint fails the handshake with the flow named") {
    auto job = short_job(traffic::tcp_stream, std::chrono::milliseconds(300));
    job.tls.mode = tls_mode::openssl;
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    auto client = job;
    client.tls.peer_fingerprint = std::string(64, 'a');
    auto cli = connect(client, {"127.0.0.1", (*srv)->port()});
    REQUIRE(cli.has_value());
    auto deadline = std::chrono::steady_clock::now() + 3s;
    kp::result<void> server_est;
    std::thread t([&] { server_est = (*srv)->establish(deadline); });
    auto est = (*cli)->establish(deadline);
    t.join();
    REQUIRE_FALSE(est.has_value());
    CHECK(est.error().message.starts_with("flow 0: TLS handshake: "));
    CHECK(est.error().message.find("fingerprint") != std::string::npos);
    CHECK_FALSE(server_est.has_value());
}

TEST_CASE("session: tcp_crr over TLS reports the handshake as a step of its own, on both sides") {
    for (auto [version, name] :
         {std::pair(tls_version::v1_2, "TLSv1.2"), std::pair(tls_version::v1_3, "TLSv1.3")}) {
        CAPTURE(name);
        auto job = short_job(traffic::tcp_crr, std::chrono::milliseconds(500));
        job.tls.mode = tls_mode::openssl;
        job.tls.version = version;
        job.verify = true;
        auto r = run_tls(job);
        const auto& f = r.client.flows[0];
        // Nagle behind the plain-text hello used to cost ~40 ms a connection (about 11 here).
        CHECK(f.transactions > 50);
        CHECK(r.client.handshake_latency.count() >= f.transactions - 1);
        CHECK(r.client.handshake_latency.percentile(50) < r.client.latency.percentile(50));
        CHECK(r.client.connect_latency.count() >= f.transactions - 1);
        CHECK(f.tls.version == name);
        CHECK(f.tls.tx_path == tls_path::user);
        CHECK(r.server.flows[0].tls.version == name);
        CHECK(r.server.flows[0].tls.rx_path == tls_path::user);
        CHECK(double(r.server.flows[0].transactions) ==
              doctest::Approx(double(f.transactions)).epsilon(0.25));
        for (const auto* side : {&r.client, &r.server}) {
            CHECK(side->errors.verify == 0);
            CHECK(side->errors.read == 0);
            CHECK(side->errors.connect == 0);
            CHECK(side->errors.rejected_hello == 0);
        }
    }
}
