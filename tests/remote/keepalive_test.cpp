// Keepalive over the control stream (remote/keepalive.hpp): an agent whose hello asked for it
// exits, through its normal exit path, once it has heard nothing for the idle limit; one whose
// hello did not never does; pings keep it up. And an agent_client gives up an agent that stops
// answering its pings, failing what is outstanding at once.
#include <doctest/doctest.h>

#include <signal.h>

#include <filesystem>
#include <future>
#include <thread>

#include "agent_fixture.hpp"
#include "remote/keepalive.hpp"

using namespace kp::remote;
using namespace kp::remote::test;
using nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

json req(std::uint64_t id, const char* type, json args = json::object()) {
    return {{"id", id}, {"type", type}, {"timeout_ms", 1000}, {"args", std::move(args)}};
}

/// A hello asking for `keepalive_ms` (nothing: the key is left out, as an older runner does).
void greet(raw_agent& a, std::optional<int> keepalive_ms) {
    json args = {{"protocol", protocol::version}};
    if (keepalive_ms) args["keepalive_ms"] = *keepalive_ms;
    a.send(req(1, "hello", args));
    auto r = a.next();
    REQUIRE(r.has_value());
    REQUIRE_MESSAGE(r->ok, r->error.message);
}

/// Sends a ping and expects its ok reply.
void ping(raw_agent& a, std::uint64_t id) {
    a.send(req(id, "ping"));
    auto r = a.next();
    REQUIRE_MESSAGE(r.has_value(), "the agent is gone");
    CHECK(r->id == std::optional<std::uint64_t>(id));
    CHECK(r->ok);
    CHECK(r->result == json::object());
}

/// True once the agent's log has a line containing `text` (bounded: the log is forwarded by a thread).
bool logged(raw_agent& a, const std::string& text, std::chrono::milliseconds limit = 2s) {
    const auto end = clock_type::now() + limit;
    do {
        {
            std::lock_guard lock(a.log.mutex);
            for (const auto& l : a.log.lines)
                if (l.find(text) != std::string::npos) return true;
        }
        std::this_thread::sleep_for(20ms);
    } while (clock_type::now() < end);
    return false;
}

} // namespace

TEST_CASE("keepalive: the idle limit is four intervals; limits are named in s or ms") {
    CHECK(keepalive::idle_limit(5000ms) == 20s);
    CHECK(keepalive::idle_limit(50ms) == 200ms);
    CHECK(keepalive::describe(20s) == "20 s");
    CHECK(keepalive::describe(1500ms) == "1500 ms");
    CHECK(keepalive::default_interval == 5s);
}

TEST_CASE("agent: with keepalive_ms in the hello, silence past the idle limit makes it exit cleanly") {
    raw_agent a;
    greet(a, 50); // idle limit 200 ms
    const auto t0 = clock_type::now();
    CHECK_FALSE(a.next(5s).has_value()); // end of stream: it gave up
    const auto waited = clock_type::now() - t0;
    CHECK(waited >= 190ms);
    CHECK(waited < 3s);
    CHECK(a.link->exit_status() == "exit code 0");
    CHECK(logged(a, "no contact from the runner for 200 ms: stopping all sessions and exiting"));
}

TEST_CASE("agent: a hello without keepalive_ms, or with 0, never gives up on silence") {
    for (std::optional<int> k : {std::optional<int>{}, std::optional<int>{0}}) {
        INFO("keepalive_ms " << (k ? std::to_string(*k) : "absent"));
        raw_agent a;
        greet(a, k);
        std::this_thread::sleep_for(700ms); // several times any limit these tests use
        ping(a, 2);
        CHECK_FALSE(logged(a, "no contact", 0ms));
    }
}

TEST_CASE("agent: pings keep it up past the idle limit; when they stop, it exits") {
    raw_agent a;
    greet(a, 100); // idle limit 400 ms; pinged twice as often as promised, for three limits
    const auto end = clock_type::now() + 1200ms;
    std::uint64_t id = 2;
    while (clock_type::now() < end) {
        ping(a, id++);
        std::this_thread::sleep_for(50ms);
    }
    ping(a, id++);
    CHECK_FALSE(logged(a, "no contact", 0ms));
    const auto t0 = clock_type::now();
    CHECK_FALSE(a.next(5s).has_value());
    CHECK(clock_type::now() - t0 < 3s);
    CHECK(a.link->exit_status() == "exit code 0");
    CHECK(logged(a, "no contact from the runner for 400 ms: stopping all sessions and exiting"));
}

TEST_CASE("agent: a ping before the hello is refused like any request") {
    raw_agent a;
    a.send(req(1, "ping"));
    auto r = a.next();
    REQUIRE(r.has_value());
    CHECK_FALSE(r->ok);
    CHECK(r->error.code == protocol::error_code::no_hello);
}

TEST_CASE("agent: giving up on silence puts back the setups it applied") {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/kperf-keepalive-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const fs::path dir = tmpl;
    const fs::path undone = dir / "undone";
    {
        raw_agent a;
        greet(a, 50);
        a.send(req(2, "setup_apply",
                   {{"setup", "s"},
                    {"run", json::array({"true"})},
                    {"undo", json::array({"touch " + undone.string()})}}));
        auto r = a.next();
        REQUIRE(r.has_value());
        REQUIRE_MESSAGE(r->ok, r->error.message);
        CHECK_FALSE(fs::exists(undone));
        CHECK_FALSE(a.next(5s).has_value()); // gave up on the silence, and exited
        CHECK(a.link->exit_status() == "exit code 0");
        CHECK(fs::exists(undone));
        CHECK(logged(a, "no contact from the runner for 200 ms"));
    }
    fs::remove_all(dir);
}

TEST_CASE("agent_client: its pings keep an idle agent up past the idle limit") {
    log_lines log;
    auto t = spawn_agent("k", &log);
    auto c = agent_client::start("k", std::move(t), 5s, 100ms); // idle limit 400 ms
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    std::this_thread::sleep_for(1200ms); // three limits, nothing but pings sent
    CHECK((*c)->alive());
    CHECK_FALSE((*c)->unresponsive());
    auto env = (*c)->environment(5s);
    CHECK_MESSAGE(env.has_value(), (env ? "" : env.error().message));
    std::lock_guard lock(log.mutex);
    for (const auto& l : log.lines)
        CHECK(l.find("no contact") == std::string::npos);
}

TEST_CASE("agent_client: an agent that stops answering its pings is given up at the idle limit, failing "
          "an outstanding wait at once") {
    local_transport* link = nullptr;
    auto t = spawn_agent("k");
    link = t.get();
    auto c = agent_client::start("k", std::move(t), 5s, 100ms); // idle limit 400 ms
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    agent_client& client = **c;
    const pid_t pid = link->pid();
    REQUIRE(::kill(pid, SIGSTOP) == 0); // hung: the stream stays open, nothing comes back
    const auto t0 = clock_type::now();
    auto waited = std::async(std::launch::async, [&] { return client.wait("x", 60s); });
    REQUIRE(waited.wait_for(5s) == std::future_status::ready);
    const auto took = clock_type::now() - t0;
    auto w = waited.get();
    REQUIRE_FALSE(w.has_value());
    CHECK(w.error().message ==
          "host k: wait x: agent on host k stopped answering: nothing received for 400 ms "
          "(keepalive probes every 100 ms)");
    CHECK(took >= 300ms);
    CHECK(took < 3s);
    CHECK_FALSE(client.alive());
    CHECK(client.unresponsive());
    // Later requests fail at once with the same reason.
    auto e = client.environment(5s);
    REQUIRE_FALSE(e.has_value());
    CHECK(e.error().message ==
          "host k: environment: agent on host k stopped answering: nothing received for 400 ms (keepalive "
          "probes every 100 ms)");
    ::kill(pid, SIGCONT); // it then sees its stdin close and exits
}

TEST_CASE("agent_client: without keepalive it sends no pings and never gives up on silence") {
    local_transport* link = nullptr;
    auto t = spawn_agent("k");
    link = t.get();
    auto c = agent_client::start("k", std::move(t), 5s); // no keepalive
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    const pid_t pid = link->pid();
    REQUIRE(::kill(pid, SIGSTOP) == 0);
    std::this_thread::sleep_for(700ms);
    CHECK((*c)->alive());
    CHECK_FALSE((*c)->unresponsive());
    ::kill(pid, SIGCONT);
    auto env = (*c)->environment(5s);
    CHECK_MESSAGE(env.has_value(), (env ? "" : env.error().message));
}
