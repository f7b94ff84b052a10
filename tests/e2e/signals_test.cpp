// End to end on loopback: the runner killed (SIGKILL) or interrupted (SIGINT) in the middle of a
// plan. What was measured survives, every report line parses, and no agent is left behind.
#include "e2e_util.hpp"

using namespace kp::e2e;

namespace {

// Three instances of about 1.2 s each (warmup + duration) plus set-up.
constexpr const char* three_instances = R"(version: 1
name: e2e-signals
hosts: {me: {}}
defaults: {client: me, server: me, duration: 1s, warmup: 200ms, traffic: tcp_stream}
scenarios:
  - name: first
  - name: second
  - name: third
)";

/// Waits (bounded) until the announced agent is gone; true when it is.
bool gone_within(pid_t agent, std::chrono::milliseconds limit) {
    auto end = clock_type::now() + limit;
    while (is_live_agent(agent)) {
        if (clock_type::now() >= end) return false;
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

} // namespace

TEST_SUITE_BEGIN("e2e-signals");

TEST_CASE("e2e: SIGKILL of the runner in instance 2 of 3 keeps the finished instance in results.jsonl; "
          "agents exit") {
    scratch s;
    auto plan = s.write("plan.yaml", three_instances);
    auto agents_before = live_agents_of_test_binary();
    runner_process run({plan.string(), "-o", (s / "out").string()}, s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[2/3\] second)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(400ms); // inside the second instance's traffic
    auto agents = announced_agents(run.log());
    REQUIRE_MESSAGE(agents.size() == 1, run.log());
    for (pid_t a : agents)
        REQUIRE(is_live_agent(a));

    run.signal(SIGKILL);
    CHECK(run.wait(5s) == 128 + SIGKILL);
    INFO(run.log());

    // The header and the first instance were synced before the kill; every line is whole JSON.
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(lines.size() >= 2);
    CHECK(lines.size() <= 3);
    CHECK(lines[0]["type"] == "run");
    CHECK(lines[1]["type"] == "instance");
    CHECK(lines[1]["id"] == "first");
    CHECK(lines[1]["status"] == "ok");
    CHECK(lines[1]["repeats"].size() == 1);
    for (std::size_t k = 2; k < lines.size(); ++k)
        CHECK(lines[k]["id"] != "third");
    // results.json is rewritten atomically: whatever it holds is a whole document.
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["status"] == "running");
    CHECK(doc["exit_code"].is_null()); // the run never ended: no exit code, not a false 0
    CHECK(doc["finished_at"].is_null());
    CHECK(schema_errors(s / "out") == "");

    // compare reads a killed run's results.jsonl (a torn last line would be skipped).
    auto cmp =
        run_kperf({"compare", (s / "out" / "results.jsonl").string(), (s / "out" / "results.jsonl").string()},
                  s / "compare.log", 20s);
    CHECK(cmp.code == 0);
    CHECK(std::regex_search(cmp.log, std::regex(R"(\nfirst +throughput_bps .* ok\n)")));

    // The agent notices its control stream is gone and exits.
    for (pid_t a : agents)
        CHECK_MESSAGE(gone_within(a, 3s), "agent " << a << " outlived the killed runner by 3 s");
    // Nor is any other agent of this binary left that was not there before.
    for (pid_t a : live_agents_of_test_binary())
        CHECK_MESSAGE(agents_before.contains(a), "agent " << a << " outlived the killed runner");
}

TEST_CASE("e2e: SIGINT stops the run early with exit 130; results.json says interrupted") {
    scratch s;
    auto plan = s.write("plan.yaml", three_instances);
    runner_process run({plan.string(), "-o", (s / "out").string(), "--junit", (s / "junit.xml").string()},
                       s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[2/3\] second)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(400ms);
    auto agents = announced_agents(run.log());
    auto sent = clock_type::now();
    run.signal(SIGINT);
    int code = run.wait(10s);
    double after_signal = std::chrono::duration<double>(clock_type::now() - sent).count();
    INFO(run.log());
    CHECK(code == 130);
    // The rest of the plan (the second's remaining traffic and all of the third) is not run.
    MESSAGE("exit " << after_signal << " s after SIGINT");
    CHECK(after_signal < 2.5);
    CHECK(contains(run.log(), "interrupted"));

    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["status"] == "interrupted");
    CHECK(doc["exit_code"] == 130);
    CHECK(!doc["finished_at"].is_null());
    REQUIRE(doc["instances"].size() == 3);
    CHECK(instance_of(doc, "first")["status"] == "ok");
    CHECK(instance_of(doc, "second")["status"] == "interrupted");
    // No host failed: the interrupt names the signal, not a host "-".
    CHECK(instance_of(doc, "second")["failure"]["host"] == "");
    CHECK(instance_of(doc, "second")["failure"]["error"] == "interrupted (SIGINT)");
    CHECK(contains(run.log(),
                   "ERROR second: " + instance_of(doc, "second")["failure"]["step"].get<std::string>() +
                       ": interrupted (SIGINT)\n"));
    CHECK_FALSE(contains(run.log(), "host -"));
    CHECK(instance_of(doc, "third")["status"] == "skipped");
    CHECK(instance_of(doc, "third")["repeats"].empty());
    CHECK(doc["summary"]["interrupted"] == 1);
    CHECK(doc["summary"]["skipped"] == 1);
    auto lines = jsonl(s / "out" / "results.jsonl");
    CHECK(lines.size() >= 2);
    CHECK(fs::exists(s / "junit.xml"));
    for (pid_t a : agents)
        CHECK_MESSAGE(gone_within(a, 3s), "agent " << a << " outlived the interrupted run");
}

TEST_CASE(
    "e2e: a second SIGINT exits at once with 130; the reports written so far parse and the agent exits") {
    scratch s;
    auto plan = s.write("plan.yaml", three_instances);
    runner_process run({plan.string(), "-o", (s / "out").string()}, s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[2/3\] second)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(300ms);
    auto agents = announced_agents(run.log());
    run.signal(SIGINT);
    std::this_thread::sleep_for(50ms); // two separate signals, not one pending one
    run.signal(SIGINT);
    CHECK(run.wait(2s) == 130);
    INFO(run.log());
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(lines.size() >= 2);
    CHECK(lines[1]["id"] == "first");
    load_json(s / "out" / "results.json"); // whole, never torn
    for (pid_t a : agents)
        CHECK_MESSAGE(gone_within(a, 3s), "agent " << a << " outlived the runner by 3 s");
}

TEST_CASE("e2e: SIGTERM is an interrupt too: exit 130, results.json says interrupted") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-term
hosts: {me: {}}
defaults: {client: me, server: me, duration: 1s, warmup: 200ms, traffic: tcp_rr}
scenarios:
  - name: only
)");
    runner_process run({plan.string(), "-o", (s / "out").string()}, s / "log");
    REQUIRE_MESSAGE(!run.await(std::regex(R"(\[1/1\] only)"), 30s).empty(), run.log());
    std::this_thread::sleep_for(400ms);
    run.signal(SIGTERM);
    CHECK(run.wait(5s) == 130);
    INFO(run.log());
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["status"] == "interrupted");
    CHECK(instance_of(doc, "only")["status"] == "interrupted");
}

TEST_SUITE_END();
