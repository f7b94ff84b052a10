#include <doctest/doctest.h>

#include <csignal>

#include "runner/orchestrate/failure.hpp"

using namespace kp::runner;

namespace {

kp::error agent_error(std::string message, bool consequence = false) {
    kp::error e = kp::make_error(std::move(message));
    e.consequence = consequence;
    return e;
}

} // namespace

TEST_CASE("failure: an agent's error names host and request once") {
    auto f =
        side_failure("s", "establish", "distinct#0/server",
                     agent_error("host s: establish distinct#0/server: the client aborted establishing the "
                                 "data connections (its error says why)"));
    CHECK(f.host == "s");
    CHECK(f.step == "establish distinct#0/server");
    CHECK(f.error == "the client aborted establishing the data connections (its error says why)");
    CHECK(describe(f) == "host s: establish distinct#0/server: the client aborted establishing the data "
                         "connections (its error says why)");

    // A request of no session ("clock"), and an error with other context, kept whole.
    auto c =
        side_failure("b", "clock", "rr#0/client", agent_error("host b: clock: no reply within 10000 ms"));
    CHECK(describe(c) == "host b: clock: no reply within 10000 ms");
    auto o = side_failure("b", "wait", "rr#0/client", agent_error("agent on host b exited (exit code 1)"));
    CHECK(describe(o) == "host b: wait: agent on host b exited (exit code 1)");
}

TEST_CASE("failure: when both sides fail, the cause comes first and the consequence follows") {
    const auto client_err =
        agent_error("host c: establish d#0/client: distinct_rx: 1 of 2 flows on distinct Rx "
                    "CPUs after 8 connections; hint: RSS or RPS");
    const auto server_err =
        agent_error("host s: establish d#0/server: the client aborted establishing the data "
                    "connections (its error says why)",
                    true);
    auto cf = side_failure("c", "establish", "d#0/client", client_err);
    auto sf = side_failure("s", "establish", "d#0/server", server_err);
    auto f = both_failed(cf, client_err, sf, server_err);
    CHECK(f.host == "c");
    CHECK(describe(f) ==
          "host c: establish d#0/client: distinct_rx: 1 of 2 flows on distinct Rx CPUs after 8 "
          "connections; hint: RSS or RPS; and on host s: establish d#0/server: the client "
          "aborted establishing the data connections (its error says why)");

    // The server ran out of descriptors; the client only saw its connection reset.
    const auto reset = agent_error("host c: establish d#0/client: flow 5: connect 127.0.0.1:5201: Connection "
                                   "reset by peer",
                                   true);
    const auto emfile = agent_error("host s: establish d#0/server: accept: Too many open files: ...");
    auto g = both_failed(side_failure("c", "establish", "d#0/client", reset), reset,
                         side_failure("s", "establish", "d#0/server", emfile), emfile);
    CHECK(describe(g) == "host s: establish d#0/server: accept: Too many open files: ...; and on host c: "
                         "establish d#0/client: flow 5: connect 127.0.0.1:5201: Connection reset by peer");

    // Neither (or both) a consequence: the client's first.
    const auto a = agent_error("host c: wait x/client: boom"), b = agent_error("host s: wait x/server: bang");
    CHECK(describe(both_failed(side_failure("c", "wait", "x/client", a), a,
                               side_failure("s", "wait", "x/server", b), b)) ==
          "host c: wait x/client: boom; and on host s: wait x/server: bang");

    // A lost host is the cause, and the failure's host, so that it is the one declared dead.
    auto lost = side_failure("s", "wait", "x/server", b);
    lost.host_lost = true;
    auto h = both_failed(side_failure("c", "wait", "x/client", a), a, lost, b);
    CHECK(h.host == "s");
    CHECK(h.host_lost);
}

TEST_CASE("failure: an interrupt names the signal and no host") {
    CHECK(describe(interrupted_at("wait", SIGINT)) == "wait: interrupted (SIGINT)");
    CHECK(describe(interrupted_at("establish", SIGTERM)) == "establish: interrupted (SIGTERM)");
    CHECK(describe(interrupted_at("repeat", 0)) == "repeat: interrupted");
    CHECK(interrupted_at("wait", SIGINT).interrupted);
}
