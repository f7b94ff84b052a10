// The forward request: a forwarder agent between a client agent and a server agent.
#include <doctest/doctest.h>

#include <future>

#include "agent_fixture.hpp"
#include "engine/wire/codec.hpp"

using namespace kp::remote;
using namespace kp::remote::test;
using kp::engine::job_spec;

namespace {

job_spec rr_job() {
    job_spec j;
    j.kind = kp::engine::traffic::tcp_rr;
    j.flows = 2;
    j.warmup = 100ms;
    j.duration = 300ms;
    j.token = "t0ken";
    j.id = "forward-test";
    return j;
}

} // namespace

TEST_CASE("agent_client: tcp_rr through a forwarder agent, with the forwarder's relay figures") {
    auto server = start_client("b");
    auto proxy = start_client("p");
    auto client = start_client("a");
    auto job = rr_job();
    auto l = server->listen("i", job, {"127.0.0.1", 0}, 5s);
    REQUIRE_MESSAGE(l.has_value(), (l ? "" : l.error().message));
    auto f = proxy->forward("i/via0", job, {"127.0.0.1", 0}, {"127.0.0.1", l->port}, 5s);
    REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message));
    CHECK(f->port != 0);
    CHECK(f->port != l->port);
    auto c = client->connect("i", job, {"127.0.0.1", f->port}, 5s);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    auto es = std::async(std::launch::async, [&] { return server->establish("i", 5s); });
    auto ec = client->establish("i", 5s);
    REQUIRE_MESSAGE(ec.has_value(), (ec ? "" : ec.error().message));
    REQUIRE(es.get().has_value());
    CHECK_FALSE(proxy->establish("i/via0", 1s).has_value()); // a forwarder has no establish step
    REQUIRE(proxy->start("i/via0", 5s).has_value());
    REQUIRE(server->start("i", 5s).has_value());
    REQUIRE(client->start("i", 5s).has_value());
    auto wp = std::async(std::launch::async, [&] { return proxy->wait("i/via0", 10s); });
    auto ws = std::async(std::launch::async, [&] { return server->wait("i", 10s); });
    auto wc = client->wait("i", 10s);
    REQUIRE_MESSAGE(wc.has_value(), (wc ? "" : wc.error().message));
    auto rs = ws.get();
    auto rp = wp.get();
    REQUIRE(rs.has_value());
    REQUIRE_MESSAGE(rp.has_value(), (rp ? "" : rp.error().message));
    std::uint64_t tx = 0;
    for (const auto& fl : wc->flows)
        tx += fl.transactions;
    CHECK(tx > 50);
    REQUIRE(rp->relay.has_value());
    CHECK(rp->relay->connections == 2);
    CHECK(rp->relay->bytes_forward > 0);
    CHECK(rp->seconds == doctest::Approx(0.3));
    CHECK_FALSE(wc->relay.has_value());
    CHECK(proxy->release("i/via0").has_value());
    CHECK(server->release("i").has_value());
    CHECK(client->release("i").has_value());
}

TEST_CASE("agent: forward checks its arguments and refuses UDP") {
    raw_agent a;
    a.greet();
    nlohmann::json job = rr_job();
    a.send({{"id", 1},
            {"type", "forward"},
            {"timeout_ms", 1000},
            {"args", {{"instance", "x"}, {"job", job}, {"bind", {{"address", "127.0.0.1"}}}}}});
    auto r = a.next();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->ok);
    CHECK(r->error.code == protocol::error_code::bad_request);
    CHECK(r->error.message == "args.next: missing");
    job["kind"] = "udp_rr";
    a.send({{"id", 2},
            {"type", "forward"},
            {"timeout_ms", 1000},
            {"args",
             {{"instance", "x"},
              {"job", job},
              {"bind", {{"address", "127.0.0.1"}}},
              {"next", {{"address", "127.0.0.1"}, {"port", 9}}}}}});
    r = a.next();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->ok);
    CHECK(r->error.code == protocol::error_code::engine);
    CHECK(r->error.message.find("UDP") != std::string::npos);
}
