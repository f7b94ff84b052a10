// End to end on loopback: the real binary runs a plan; its exit code, results.jsonl,
// results.json (against schemas/results.schema.json), results.csv and JUnit say what happened.
#include "e2e_util.hpp"

#include "netns_fixture.hpp" // kp::test::run_shell

using namespace kp::e2e;

TEST_SUITE_BEGIN("e2e-reports");

TEST_CASE("e2e: a local plan passes; JSONL, JSON (schema), CSV and JUnit hold every instance and check") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-local
hosts: {me: {}}
defaults: {client: me, server: me, duration: 400ms, warmup: 200ms}
scenarios:
  - name: stream
    traffic: tcp_stream
    expect: {throughput_bps: "> 1Mbit/s"}
  - name: rr
    traffic: tcp_rr
    request_size: 64
    response_size: 64
    expect: {transactions_per_s: "> 100", latency_p99: "< 1s"}
  - name: udp
    traffic: udp_stream
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--junit", (s / "junit.xml").string()},
                       s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    const std::vector<std::string> ids{"stream", "rr", "udp"};

    // results.jsonl: the run header, then one line per instance in plan order; every line is JSON.
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(lines.size() == 1 + ids.size());
    CHECK(lines[0]["type"] == "run");
    CHECK(lines[0]["plan"]["name"] == "e2e-local");
    for (std::size_t k = 0; k < ids.size(); ++k) {
        CHECK(lines[k + 1]["type"] == "instance");
        CHECK(lines[k + 1]["id"] == ids[k]);
        CHECK(lines[k + 1]["status"] == "ok");
    }

    // results.json: complete, valid against the schema, with figures that make sense.
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    CHECK(doc["status"] == "complete");
    CHECK(doc["exit_code"].is_number_integer());
    CHECK(doc["exit_code"] == 0);
    CHECK(doc["summary"]["ok"] == 3);
    CHECK(doc["hosts"]["me"]["transport"] == "local");
    CHECK(instance_of(doc, "stream")["aggregate"]["metrics"]["throughput_bps"]["value"].get<double>() > 1e6);
    CHECK(instance_of(doc, "rr")["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>() > 100);
    CHECK(instance_of(doc, "rr")["checks"].size() == 2);
    CHECK(instance_of(doc, "udp")["aggregate"]["metrics"].contains("loss_ratio"));

    // results.csv: the header and one row per instance, each as wide as the header.
    auto csv = lines_of(slurp(s / "out" / "results.csv"));
    REQUIRE(csv.size() == 1 + ids.size());
    auto header = split(csv[0], ',');
    REQUIRE(header.size() > 10);
    CHECK(header[0] == "plan");
    CHECK(header[2] == "instance");
    CHECK(header[8] == "status");
    for (std::size_t k = 0; k < ids.size(); ++k) {
        auto row = split(csv[k + 1], ',');
        CHECK(row.size() == header.size());
        CHECK(row[0] == "e2e-local");
        CHECK(row[2] == ids[k]);
        CHECK(row[8] == "ok");
    }

    // JUnit: one test case per instance and one per expect: check, none failed.
    auto cases = junit_cases(s / "junit.xml");
    std::set<std::string> names;
    for (const auto& c : cases) {
        names.insert(c.name);
        CHECK_MESSAGE(!c.failure, c.name << ": " << c.message);
        CHECK_MESSAGE(!c.error, c.name << ": " << c.message);
    }
    CHECK(cases.size() == 3 + 3);
    for (const auto& id : ids)
        CHECK(names.contains(id));
    CHECK(names.contains("stream: throughput_bps > 1Mbit/s"));
    CHECK(names.contains("rr: transactions_per_s > 100"));
    CHECK(names.contains("rr: latency_p99 < 1s"));
}

TEST_CASE(
    "e2e: an expectation that cannot hold exits 1; the summary and JUnit name metric, bound and measure") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-expect
hosts: {me: {}}
defaults: {client: me, server: me, duration: 300ms, warmup: 200ms}
scenarios:
  - name: rr
    traffic: tcp_rr
    expect: {transactions_per_s: "> 1e12"}
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string(), "--junit", (s / "junit.xml").string()},
                       s / "log", 60s);
    INFO(r.log);
    CHECK(r.code == 1);
    // e.g. "FAIL rr: transactions_per_s > 1e12: measured 47.9k tx/s"
    CHECK(std::regex_search(r.log,
                            std::regex(R"(FAIL rr: transactions_per_s > 1e12: measured [0-9.]+k? tx/s)")));

    auto doc = load_json(s / "out" / "results.json");
    CHECK(schema_errors(s / "out") == "");
    CHECK(doc["exit_code"] == 1);
    const auto& rr = instance_of(doc, "rr");
    CHECK(rr["status"] == "expect_failed");
    REQUIRE(rr["checks"].size() == 1);
    CHECK(rr["checks"][0]["metric"] == "transactions_per_s");
    CHECK(rr["checks"][0]["op"] == ">");
    CHECK(rr["checks"][0]["bound"].get<double>() == doctest::Approx(1e12));
    CHECK(rr["checks"][0]["measured"].get<double>() > 0);
    CHECK(rr["checks"][0]["passed"] == false);

    auto cases = junit_cases(s / "junit.xml");
    REQUIRE(cases.size() == 2);
    CHECK(cases[0].name == "rr");
    CHECK_FALSE(cases[0].failure);
    CHECK(cases[1].name == "rr: transactions_per_s > 1e12");
    CHECK(cases[1].failure);
    CHECK(contains(cases[1].message, "transactions_per_s > 1e12: measured "));
}

TEST_CASE("e2e: an expectation on a metric the kind never measures is refused before anything runs") {
    scratch s;
    // A stream has no round trips: its latency could only ever be "not measured".
    auto plan = s.write("plan.yaml", R"(version: 1
hosts: {me: {}}
scenarios:
  - name: stream
    traffic: tcp_stream
    expect: {latency_p99: "< 1s"}
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    CHECK(r.code == 2);
    CHECK(contains(r.log,
                   "plan.yaml:6:14: expect: tcp_stream does not measure latency_p99 (scenario 'stream'; "
                   "tcp_stream measures throughput_bps, retransmits, client_cpu_s, server_cpu_s, "
                   "client_service_demand, server_service_demand, fairness)\n"
                   "    expect: {latency_p99: \"< 1s\"}\n"
                   "             ^\n"));
    CHECK_FALSE(fs::exists(s / "out" / "results.jsonl"));
}

TEST_CASE("e2e: without -o the reports go to results/<plan>/<UTC timestamp>/ under the working directory") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-default-dir
hosts: {me: {}}
scenarios:
  - {name: rr, traffic: tcp_rr, client: me, server: me, duration: 200ms, warmup: 200ms}
)");
    auto r = run_kperf({"run", plan.string()}, s / "log", 30s, s.dir);
    INFO(r.log);
    CHECK(r.code == 0);
    std::vector<fs::path> runs;
    if (fs::is_directory(s / "results" / "e2e-default-dir"))
        for (const auto& e : fs::directory_iterator(s / "results" / "e2e-default-dir"))
            runs.push_back(e.path());
    REQUIRE(runs.size() == 1);
    CHECK(std::regex_match(runs[0].filename().string(), std::regex(R"([0-9]{8}T[0-9]{6}Z)")));
    for (const char* f : {"results.json", "results.jsonl", "results.csv"})
        CHECK(fs::exists(runs[0] / f));
    CHECK(contains(r.log, "results/e2e-default-dir/" + runs[0].filename().string()));
    CHECK(schema_errors(runs[0]) == "");
}

TEST_CASE("e2e: two runs of one plan started in the same second get a report directory each") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-same-second
hosts: {me: {}}
scenarios:
  - {name: rr, traffic: tcp_rr, client: me, server: me, duration: 200ms, warmup: 200ms}
)");
    // Start both just after a second boundary so their timestamps collide.
    auto now = std::chrono::system_clock::now().time_since_epoch();
    std::this_thread::sleep_for(1s - (now % 1s) + 20ms);
    runner_process one({"run", plan.string()}, s / "log1", s.dir);
    runner_process two({"run", plan.string()}, s / "log2", s.dir);
    CHECK(one.wait(30s) == 0);
    CHECK(two.wait(30s) == 0);
    INFO(one.log() << two.log());
    std::vector<fs::path> runs;
    for (const auto& e : fs::directory_iterator(s / "results" / "e2e-same-second"))
        runs.push_back(e.path());
    REQUIRE(runs.size() == 2);
    for (const auto& dir : runs) {
        INFO(dir.string());
        auto lines = jsonl(dir / "results.jsonl");
        REQUIRE(lines.size() == 2); // its own header and its own instance, nothing of the other run
        CHECK(lines[0]["type"] == "run");
        CHECK(lines[1]["id"] == "rr");
        CHECK(schema_errors(dir) == "");
    }
}

TEST_CASE("e2e: a placement the host cannot hold exits 2 with a located error and leaves no reports") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-placement
hosts: {me: {}}
scenarios:
  - {name: rr, traffic: tcp_rr, client: me, server: me, duration: 200ms, placement: {client: "1023", server: any}}
)");
    auto r = run_kperf({"run", plan.string()}, s / "log", 30s, s.dir);
    INFO(r.log);
    CHECK(r.code == 2);
    CHECK(contains(r.log, plan.string() + ":5:"));
    CHECK(contains(r.log, "placement '1023' cannot hold on host me"));
    CHECK_FALSE(fs::exists(s / "results" / "e2e-placement"));
}

TEST_CASE("e2e: past 32 flows results.json holds the 8 lowest and highest flows, flow_detail all of them") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-fold
hosts: {me: {}}
defaults: {client: me, server: me, duration: 300ms, warmup: 100ms}
scenarios:
  - name: rr
    traffic: tcp_rr
    flows: 64
    workers: 2
    request_size: 64
    response_size: 64
    matrix: {flow_detail: [false, true]}
)");
    auto r = run_kperf({plan.string(), "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    CHECK(schema_errors(s / "out") == "");
    auto doc = load_json(s / "out" / "results.json");
    REQUIRE(doc["instances"].size() == 2);
    for (const auto& inst : doc["instances"]) {
        const bool detail = inst["client_job"]["flow_detail"].get<bool>();
        CAPTURE(detail);
        for (const char* side : {"client", "server"}) {
            CAPTURE(side);
            const auto& x = inst["repeats"][0][side];
            CHECK(x["flows"].size() == (detail ? 64u : 16u));
            CHECK(x["flows_omitted"] == (detail ? 0 : 48));
            CHECK(x["flow_totals"]["flows"] == 64);
            std::uint64_t workers_flows = 0, workers_tx = 0, kept_tx = 0;
            for (const auto& w : x["workers"]) {
                workers_flows += w["totals"]["flows"].get<std::uint64_t>();
                workers_tx += w["totals"]["transactions"].get<std::uint64_t>();
            }
            CHECK(workers_flows == 64);
            CHECK(workers_tx == x["flow_totals"]["transactions"].get<std::uint64_t>());
            for (const auto& f : x["flows"])
                kept_tx += f["transactions"].get<std::uint64_t>();
            if (detail) CHECK(kept_tx == x["flow_totals"]["transactions"].get<std::uint64_t>());
            CHECK(x["flow_spread"]["min"].get<double>() <= x["flow_spread"]["max"].get<double>());
            if (!detail) {
                // Ascending by headline (transactions): the kept lowest and highest.
                CHECK(x["flows"][0]["transactions"].get<double>() == x["flow_spread"]["min"].get<double>());
                CHECK(x["flows"][15]["transactions"].get<double>() == x["flow_spread"]["max"].get<double>());
            }
        }
        // The metrics come from the totals over all 64 flows.
        const double tps = inst["aggregate"]["metrics"]["transactions_per_s"]["value"].get<double>();
        const auto& c = inst["repeats"][0]["client"];
        CHECK(tps ==
              doctest::Approx(c["flow_totals"]["transactions"].get<double>() / c["seconds"].get<double>()));
    }
}

TEST_CASE("e2e: a second run into the same -o is refused at once with exit 2, and so is a finished run's "
          "directory") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-claim
hosts: {me: {}}
scenarios:
  - {name: rr, traffic: tcp_rr, client: me, server: me, duration: 1s, warmup: 200ms}
)");
    const std::string out = (s / "out").string();
    runner_process one({"run", plan.string(), "-o", out}, s / "log1");
    REQUIRE_FALSE(one.await(std::regex("reports in "), 20s).empty());
    auto two = run_kperf({"run", plan.string(), "-o", out}, s / "log2", 20s);
    INFO(two.log);
    CHECK(two.code == 2);
    CHECK(two.log == "kperf-plan: output directory " + out + " is in use by another run (pid " +
                         std::to_string(one.pid()) + "); choose another -o\n");
    CHECK(two.seconds < 5);
    CHECK(one.wait(30s) == 0);
    INFO(one.log());
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(lines.size() == 2); // one header, one instance: nothing of the refused run
    CHECK(lines[0]["type"] == "run");
    CHECK(lines[1]["id"] == "rr");
    CHECK(schema_errors(s / "out") == "");

    // The finished run's results are not truncated by a later run into the same directory.
    const std::string before = slurp(s / "out" / "results.jsonl");
    auto three = run_kperf({"run", plan.string(), "-o", out}, s / "log3", 20s);
    INFO(three.log);
    CHECK(three.code == 2);
    CHECK(three.log == "kperf-plan: output directory " + out +
                           " already holds the results.jsonl of an earlier run; choose another -o (or "
                           "remove that run's files)\n");
    CHECK(slurp(s / "out" / "results.jsonl") == before);
}

TEST_SUITE_END();

TEST_CASE(
    "e2e: --only and --set pick and override, with exact errors; --json streams results.jsonl on stdout") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-cli
hosts: {me: {}}
defaults: {client: me, server: me, duration: 5s, warmup: 2s}
scenarios:
  - name: stream
    traffic: tcp_stream
  - name: rr
    traffic: tcp_rr
    matrix: {in_flight: [1, 8]}
)");
    const std::string bin = env("KPERF_PLAN_BIN");
    auto run = [&](const std::string& args, const std::string& redirect = "2>&1") {
        int rc = -1;
        auto out =
            kp::test::run_shell("'" + bin + "' run '" + plan.string() + "' " + args + " " + redirect, &rc);
        return std::pair{rc, out};
    };
    auto [rc1, out1] = run("--only 'rx/*' --set durtion=1s --set duration=1");
    CHECK(rc1 == 2);
    CHECK(out1 == "--set durtion=1s: unknown parameter 'durtion', did you mean 'duration'?\n"
                  "--set duration=1: duration: expected a duration with a unit (ns, us, ms, s, m, h) such as "
                  "500ms, 10s or 2m, got '1'\n");
    auto [rc2, out2] = run("--only 'rx/*'");
    CHECK(rc2 == 2);
    CHECK(out2 == "kperf-plan: --only 'rx/*': matches no instance; the instances are 'stream', "
                  "'rr/in_flight=1', 'rr/in_flight=8'\n");
    auto [rc3, out3] = run("--set in_flight=4");
    CHECK(rc3 == 2);
    CHECK(out3 == "--set in_flight=4: scenario 'rr' varies 'in_flight' in its matrix (line 10); pick its "
                  "values with --only instead\n");
    auto [rc4, out4] = run("--only 'rr/*=8' --set duration=300ms --set warmup=100ms --dry-run");
    CHECK(rc4 == 0);
    CHECK(contains(out4, "plan 'e2e-cli' (" + plan.string() + "): 1 instance; dry run"));
    CHECK(contains(out4, "--set duration=300ms: above everything the plan says"));
    CHECK(contains(out4, "[1/1] rr/in_flight=8\n"));
    CHECK(contains(out4, "    duration: 300ms\n"));

    // A real run of that choice: stdout is exactly results.jsonl, human output went to stderr.
    auto [rc5, out5] = run("--only 'rr/*=8' --set duration=300ms --set warmup=100ms --json -o '" +
                               (s / "out").string() + "'",
                           "2>'" + (s / "err").string() + "'");
    INFO(slurp(s / "err"));
    REQUIRE(rc5 == 0);
    CHECK(out5 == slurp(s / "out" / "results.jsonl"));
    CHECK(schema_errors(s / "out") == "");
    auto lines = jsonl(s / "out" / "results.jsonl");
    REQUIRE(lines.size() == 2);
    CHECK(lines[1]["id"] == "rr/in_flight=8");
    CHECK(lines[1]["client_job"]["duration_ns"] == 300'000'000);
    CHECK(lines[0]["plan"]["model"]["overrides"] == json::array({"duration=300ms", "warmup=100ms"}));
    CHECK(contains(slurp(s / "err"), "reports: "));

    // -q: only the report directory (and what failed) is printed.
    auto [rc6, out6] =
        run("--only stream --set duration=300ms --set warmup=100ms -q -o '" + (s / "quiet").string() + "'");
    CHECK(rc6 == 0);
    CHECK(out6 == "reports: " + (s / "quiet").string() + "\n");
}

TEST_CASE(
    "e2e: -i prints a line per second while an instance runs; results-samples.csv holds the same seconds") {
    scratch s;
    auto plan = s.write("plan.yaml", R"(version: 1
name: e2e-interval
hosts: {me: {}}
defaults: {client: me, server: me, duration: 3s, warmup: 200ms}
scenarios:
  - name: rr
    traffic: tcp_rr
  - name: up
    traffic: tcp_stream
)");
    auto r = run_kperf({plan.string(), "-i", "-o", (s / "out").string()}, s / "log", 60s);
    INFO(r.log);
    REQUIRE(r.code == 0);
    // Three seconds each: rr from its client (with that second's p50/p99), the stream from its server.
    const std::regex rr_line(
        R"(\n  rr client +[123]\.0 s  [0-9.]+k? tx/s  p50 [0-9.]+ [nu]s  p99 [0-9.]+ [num]?s)");
    const std::regex up_line(R"(\n  up server +[123]\.0 s  [0-9.]+ [kMG]?bit/s)");
    auto count = [&](const std::regex& re) {
        return std::distance(std::sregex_iterator(r.log.begin(), r.log.end(), re), std::sregex_iterator());
    };
    CHECK(count(rr_line) == 3);
    CHECK(count(up_line) == 3);
    auto csv = lines_of(slurp(s / "out" / "results-samples.csv"));
    REQUIRE(!csv.empty());
    CHECK(csv[0] == "plan,instance,repeat,side,second,t,bytes,transactions,throughput_bps,transactions_per_s,"
                    "latency_p50_us,latency_p99_us");
    // Per instance, 3 seconds on each of the two sides.
    CHECK(csv.size() == 1 + 2 * 2 * 3);
    std::size_t rr_client = 0;
    for (const auto& l : csv)
        if (l.starts_with("e2e-interval,rr,0,client,")) {
            ++rr_client;
            auto f = split(l, ',');
            REQUIRE(f.size() == 12);
            CHECK(std::stod(f[9]) > 0); // transactions/s
            CHECK_FALSE(f[11].empty()); // p99 of that second
        }
    CHECK(rr_client == 3);
}
