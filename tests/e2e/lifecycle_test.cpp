// End to end, on this machine: the reports a user reads (CSV columns exactly as the README lists
// them, a JSONL line per instance) and an agent that dies mid-scenario failing that scenario only.
#include "e2e_util.hpp"

#include <unistd.h>

#include "netns_fixture.hpp" // kp::test::run_shell

using namespace kp::e2e;

namespace {

/// The column names of the README's "CSV columns" table, in order.
std::vector<std::string> readme_csv_columns() {
    std::string readme = slurp(fs::path(env("KPERF_SOURCE_ROOT")) / "README.md");
    auto at = readme.find("### CSV columns");
    REQUIRE(at != std::string::npos);
    auto end = readme.find("\n#", at + 1);
    std::vector<std::string> cols;
    static const std::regex row(R"(^\| `([a-z0-9_]+)` \|)");
    for (const auto& line : lines_of(readme.substr(at, end - at))) {
        std::smatch m;
        if (std::regex_search(line, m, row)) cols.push_back(m[1]);
    }
    return cols;
}

} // namespace

TEST_SUITE("e2e-lifecycle") {

    TEST_CASE("e2e: a matrix with repeats gives a JSONL line per instance and the README's CSV columns") {
        scratch s;
        auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-columns
hosts: {me: {}}
defaults: {client: me, server: me, duration: 300ms, warmup: 100ms, repeat: 2}
scenarios:
  - name: rr
    traffic: tcp_rr
    request_size: 64
    response_size: 64
    matrix: {in_flight: [1, 4]}
  - name: stream
    traffic: tcp_stream
)");
        auto r = run_kperf({"run", plan.string(), "-o", (s / "out").string()}, s / "log");
        INFO(r.log);
        REQUIRE(r.code == 0);
        // rpctest's view: with two repeats, the median of the per-repeat p50s, in the summary and the CSV.
        CHECK(std::regex_search(
            r.log,
            std::regex(
                R"(\nMEDIAN rr/in_flight=1: p50 median of 2 repeats [0-9.]+ [nu]s \(merged histogram [0-9.]+ [nu]s\)\n)")));
        CHECK_FALSE(contains(r.log, "MEDIAN stream"));

        // results.jsonl: the run header, then one instance per line, each a JSON document.
        auto lines = jsonl(s / "out" / "results.jsonl");
        REQUIRE(lines.size() == 4);
        CHECK(lines[0]["type"] == "run");
        std::vector<std::string> ids;
        for (std::size_t i = 1; i < lines.size(); ++i) {
            CHECK(lines[i]["type"] == "instance");
            CHECK(lines[i]["repeats"].size() == 2);
            ids.push_back(lines[i]["id"]);
        }
        CHECK(ids == std::vector<std::string>{"rr/in_flight=1", "rr/in_flight=4", "stream"});

        // results.csv: the header is exactly the README's table, then one row per instance.
        auto csv = lines_of(slurp(s / "out" / "results.csv"));
        REQUIRE(csv.size() == 4);
        auto readme = readme_csv_columns();
        CHECK(readme.size() > 20);
        CHECK(split(csv[0], ',') == readme);
        CHECK(csv[1].starts_with("e2e-columns,"));
        CHECK(csv[1].find(",rr/in_flight=1,rr,tcp_rr,in_flight=1,me,me,ok,2,") != std::string::npos);

        // --csv-repeats: one row per repeat.
        auto again =
            run_kperf({"run", plan.string(), "-o", (s / "out2").string(), "--csv-repeats"}, s / "log2");
        REQUIRE(again.code == 0);
        auto rows = lines_of(slurp(s / "out2" / "results.csv"));
        CHECK(rows.size() == 1 + 3 * 2);
        CHECK(split(rows[0], ',')[3] == "repeat");
    }

    TEST_CASE("e2e: an agent killed mid-scenario fails that scenario with a reason; the others run") {
        scratch s;
        // Two plan hosts on this machine: two agents. Host b's agent is killed during `victim`.
        auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-agent-death
hosts: {a: {}, b: {}}
defaults: {warmup: 100ms, duration: 500ms}
scenarios:
  - name: victim
    traffic: tcp_stream
    client: a
    server: b
    duration: 6s
  - name: survivor
    traffic: tcp_rr
    client: a
    server: a
  - name: after
    traffic: tcp_rr
    client: a
    server: b
)");
        auto before = live_agents_of_test_binary();
        runner_process run({"run", plan.string(), "-o", (s / "out").string()}, s / "log");
        auto m = run.await(std::regex(R"(\bb: agent\[([0-9]+)\])"), 20s);
        REQUIRE_MESSAGE(!m.empty(), run.log());
        pid_t victim_agent = static_cast<pid_t>(std::stol(m[1]));
        REQUIRE(!run.await(std::regex(R"(\[1/3\] victim)"), 20s).empty());
        std::this_thread::sleep_for(1s); // well inside the 6 s of traffic
        REQUIRE(::kill(victim_agent, SIGKILL) == 0);

        int code = run.wait(60s);
        INFO(run.log());
        CHECK(code == 3);
        auto doc = load_json(s / "out" / "results.json");
        auto& inst = doc["instances"];
        REQUIRE(inst.size() == 3);
        CHECK(inst[0]["id"] == "victim");
        CHECK(inst[0]["status"] == "failed");
        CHECK(inst[0]["failure"]["host"] == "b");
        CHECK(inst[0]["failure"]["error"].get<std::string>().find("agent on host b") != std::string::npos);
        CHECK(inst[1]["status"] == "ok");
        CHECK(inst[1]["repeats"][0]["metrics"]["transactions_per_s"].get<double>() > 0);
        CHECK(inst[2]["status"] == "failed");
        CHECK(inst[2]["failure"]["host"] == "b");
        // The surviving agent exited with the run.
        std::this_thread::sleep_for(500ms);
        for (pid_t p : live_agents_of_test_binary())
            CHECK_MESSAGE(before.contains(p), "agent " << p << " outlived the run");
    }

    TEST_CASE("e2e: a hung agent (SIGSTOP) is declared dead once: its instance fails after the window, the "
              "later ones at once") {
        scratch s;
        auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-agent-hung
hosts: {a: {}, b: {}}
defaults: {warmup: 100ms, duration: 500ms}
scenarios:
  - name: victim
    traffic: tcp_rr
    client: a
    server: b
    duration: 2s
  - name: survivor
    traffic: tcp_rr
    client: a
    server: a
  - name: after1
    traffic: tcp_rr
    client: a
    server: b
  - name: after2
    traffic: tcp_stream
    client: b
    server: a
)");
        runner_process run({"run", plan.string(), "-o", (s / "out").string()}, s / "log");
        auto m = run.await(std::regex(R"(\bb: agent\[([0-9]+)\])"), 20s);
        REQUIRE_MESSAGE(!m.empty(), run.log());
        pid_t hung = static_cast<pid_t>(std::stol(m[1]));
        REQUIRE(!run.await(std::regex(R"(\[1/4\] victim)"), 20s).empty());
        std::this_thread::sleep_for(500ms);
        REQUIRE(::kill(hung, SIGSTOP) == 0);
        struct reap {
            pid_t pid;
            ~reap() { ::kill(pid, SIGKILL); } // a stopped process takes SIGKILL
        } guard{hung};

        int code = run.wait(60s);
        INFO(run.log());
        CHECK(code == 3);
        // The window (2.1 s) plus the 5 s margin and the reply grace, once; not once per instance.
        CHECK(run.seconds() < 25);
        CHECK(contains(run.log(), "kperf-plan: host b declared dead"));
        auto doc = load_json(s / "out" / "results.json");
        auto& inst = doc["instances"];
        REQUIRE(inst.size() == 4);
        CHECK(inst[0]["status"] == "failed");
        CHECK(inst[0]["failure"]["host"] == "b");
        CHECK(inst[1]["status"] == "ok");
        for (int k : {2, 3}) {
            CHECK(inst[k]["status"] == "failed");
            CHECK(inst[k]["failure"]["host"] == "b");
            CHECK(inst[k]["failure"]["step"] == "declared dead");
            CHECK(inst[k]["elapsed_s"].get<double>() < 0.5);
        }
    }

    TEST_CASE("e2e: flows beyond the open-file limit fail at once, naming the limit first; both sides' "
              "errors kept") {
        scratch s;
        auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-emfile
hosts: {me: {}}
defaults: {client: me, server: me, duration: 1s, warmup: 0s}
scenarios:
  - name: many
    traffic: tcp_stream
    flows: 1000
)");
        // Runner and agent (its child) under a limit of 256, soft and hard: 1000 flows cannot fit.
        const auto began = clock_type::now();
        int rc = 0;
        auto out = kp::test::run_shell("timeout 60 sh -c 'ulimit -n 256 && exec \"$0\" \"$@\"' '" +
                                           env("KPERF_PLAN_BIN") + "' run -o '" + (s / "out").string() +
                                           "' '" + plan.string() + "' 2>&1",
                                       &rc);
        const double took = std::chrono::duration<double>(clock_type::now() - began).count();
        INFO(out);
        CHECK(rc == 3);
        MESSAGE("failed after " << took << " s");
        CHECK(took < 10); // not after the 30 s establish timeout
        // Both sides run in the one agent: whichever ran out first is the cause and comes first,
        // the other side's error follows it.
        const std::string limit =
            "Too many open files: 1000 flows take at least 1000 descriptors on each side "
            "(twice that on a host that runs both), and the open-file limit here is 256 "
            "(hard limit 256); raise it with `ulimit -n` (or LimitNOFILE= for a systemd "
            "unit)";
        const std::regex server_first("\nERROR many: host me: establish many#0/server: accept: " +
                                      std::regex_replace(limit, std::regex(R"([()])"), R"(\$&)") +
                                      "; and on host me: establish many#0/client: flow \\d+: [^\n]*\n");
        const std::regex client_first("\nERROR many: host me: establish many#0/client: flow \\d+: socket: " +
                                      std::regex_replace(limit, std::regex(R"([()])"), R"(\$&)") +
                                      "; and on host me: establish many#0/server: the client aborted "
                                      "establishing the data connections \\(its error says why\\)\n");
        CHECK((std::regex_search(out, server_first) || std::regex_search(out, client_first)));
        auto f = instance_of(load_json(s / "out" / "results.json"), "many")["failure"];
        CHECK(f["host"] == "me");
        CHECK((f["step"] == "establish many#0/server" || f["step"] == "establish many#0/client"));
    }
} // TEST_SUITE

TEST_CASE(
    "e2e: a full disk under -o fails the run with exit 3; results.jsonl keeps whole lines, no .tmp is left") {
    if (::geteuid() != 0) {
        kp::test::skip("mounting a small tmpfs needs root");
        return;
    }
    scratch s;
    const fs::path small = s / "small";
    fs::create_directories(small);
    int rc = 0;
    auto out = kp::test::run_shell("mount -t tmpfs -o size=64k tmpfs '" + small.string() + "' 2>&1", &rc);
    if (rc != 0) {
        kp::test::skip("cannot mount a tmpfs here: " + out);
        return;
    }
    struct unmount {
        fs::path at;
        ~unmount() { kp::test::run_shell("umount -l '" + at.string() + "' 2>/dev/null"); }
    } guard{small};
    // About 15 KiB of JSON per instance: the 64 KiB fill up within a few instances.
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-full
hosts: {me: {}}
defaults: {client: me, server: me, duration: 100ms, warmup: 0s}
scenarios:
  - name: rr
    traffic: tcp_rr
    matrix: {in_flight: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
)");
    auto r =
        run_kperf({plan.string(), "-o", (small / "res").string(), "--junit", (small / "junit.xml").string()},
                  s / "log", 90s);
    INFO(r.log);
    CHECK(r.code == 3);
    CHECK(contains(r.log, "No space left on device"));
    CHECK(contains(r.log, "kperf-plan: reports are incomplete"));
    // Whatever reached results.jsonl is whole lines, each of them JSON.
    const auto text = slurp(small / "res" / "results.jsonl");
    CHECK((text.empty() || text.back() == '\n'));
    CHECK(jsonl(small / "res" / "results.jsonl").size() >= 1);
    for (const auto& e : fs::directory_iterator(small / "res"))
        CHECK_MESSAGE(e.path().extension() != ".tmp", e.path().string());
}
