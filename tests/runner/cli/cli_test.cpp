// End to end: the built binary, as a user runs it.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct run_result {
    int status = -1;
    std::string out; ///< stdout and stderr, in order
};

/// Runs `kperf-plan ARGS` (a shell-quoted string) with stderr merged into stdout.
run_result kperf_plan(const std::string& args) {
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin, "KPERF_PLAN_BIN is not set (run through meson test)");
    run_result r;
    std::string cmd = std::string("'") + bin + "' " + args + " 2>&1";
    FILE* f = ::popen(cmd.c_str(), "r");
    REQUIRE(f);
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
        r.out.append(buf.data(), n);
    int st = ::pclose(f);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

std::string source(const std::string& rel) {
    const char* root = std::getenv("KPERF_SOURCE_ROOT");
    REQUIRE(root);
    return std::string(root) + "/" + rel;
}

/// A temporary plan file, removed at scope exit.
struct temp_plan {
    std::string path;
    explicit temp_plan(const std::string& text) {
        char tmpl[] = "/tmp/kperf-plan-test-XXXXXX.yaml";
        int fd = ::mkstemps(tmpl, 5);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
        path = tmpl;
    }
    ~temp_plan() { ::unlink(path.c_str()); }
};

} // namespace

TEST_CASE("cli: validate prints three located errors for three mistakes and exits 2") {
    const std::string plan = source("tests/runner/plan/bad_plans/three-mistakes.yaml");
    auto r = kperf_plan("validate '" + plan + "'");
    CHECK(r.status == 2);
    CHECK(r.out == plan +
                       ":10:17: write_size: expected a size such as 64, 4KiB, 1MiB or 1MB, got '4KB/s'\n"
                       "    write_size: 4KB/s\n"
                       "                ^\n" +
                       plan +
                       ":11:15: duration: expected a duration with a unit (ns, us, ms, s, m, h) such as "
                       "500ms, 10s or 2m, got '10'\n"
                       "    duration: 10\n"
                       "              ^\n" +
                       plan +
                       ":12:13: undefined host 'c' (hosts are: a, b)\n"
                       "    server: c\n"
                       "            ^\n");
}

TEST_CASE("cli: validate says ok per good plan, and exit 2 if any is bad") {
    auto r = kperf_plan("validate '" + source("plans/quickstart.yaml") + "'");
    CHECK(r.status == 0);
    CHECK(r.out == source("plans/quickstart.yaml") + ": ok\n");
    temp_plan bad("version: 1\nhosts: {me: {}}\nscenarios:\n  - {name: s, traffic: tcp_rr, flos: 1}\n");
    r = kperf_plan("validate '" + source("plans/quickstart.yaml") + "' " + bad.path);
    CHECK(r.status == 2);
    CHECK(r.out.find(": ok\n") != std::string::npos);
    CHECK(r.out.find(bad.path + ":4:32: unknown key 'flos', did you mean 'flows'?\n") != std::string::npos);
}

TEST_CASE("cli: run --dry-run prints the instances and contacts nothing") {
    // two-host.yaml names SSH hosts in 198.18.0.0/15; a dry run must not need them.
    auto r = kperf_plan("run --dry-run '" + source("plans/two-host.yaml") + "'");
    CHECK(r.status == 0);
    CHECK(r.out.find("plan 'two-host-baseline'") == 0);
    CHECK(r.out.find("] rpc/in_flight=128,flows=8\n") != std::string::npos);
    CHECK(r.out.find("    client: a (ssh root@198.18.0.1:22, address 198.18.0.1)\n") != std::string::npos);
    // The short form is `run`.
    auto s = kperf_plan("'" + source("plans/quickstart.yaml") + "' --dry-run");
    CHECK(s.status == 0);
    CHECK(s.out.find("[3/3] rr/in_flight=32\n") != std::string::npos);
}

TEST_CASE("cli: exit codes for usage, version and help") {
    CHECK(kperf_plan("").status == 2);
    CHECK(kperf_plan("validate").status == 2);
    CHECK(kperf_plan("run --no-such-flag x.yaml").status == 2);
    CHECK(kperf_plan("/nonexistent/plan.yaml").status == 2);
    CHECK(kperf_plan("check").status == 2);
    CHECK(kperf_plan("check /nonexistent/plan.yaml").status == 2);
    auto v = kperf_plan("--version");
    CHECK(v.status == 0);
    CHECK(v.out == "kperf-plan 0.1.0\n");
    auto h = kperf_plan("--help");
    CHECK(h.status == 0);
    CHECK(h.out.find("validate") != std::string::npos);
    CHECK(h.out.find("check") != std::string::npos);
    CHECK(h.out.find("Exit codes") != std::string::npos);
}

TEST_CASE("cli: a plan that is a FIFO or a directory is refused at once with exit 2") {
    char tmpl[] = "/tmp/kperf-plan-fifo-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const std::string dir = tmpl;
    const std::string fifo = dir + "/plan.yaml";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    struct cleanup {
        std::string dir, fifo;
        ~cleanup() {
            ::unlink(fifo.c_str());
            ::rmdir(dir.c_str());
        }
    } clean{dir, fifo};
    for (const std::string command : {"validate", "run", "run --dry-run", "check"}) {
        CAPTURE(command);
        // Before the fix this blocked for ever (bounded only by the suite's timeout).
        const auto start = std::chrono::steady_clock::now();
        auto r = kperf_plan(command + " '" + fifo + "'");
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(r.status == 2);
        CHECK(r.out == fifo + ": cannot read: is a FIFO; a plan must be a regular file\n");
        CHECK(took < std::chrono::seconds(5));
        r = kperf_plan(command + " '" + dir + "'");
        CHECK(r.status == 2);
        CHECK(r.out == dir + ": cannot read: is a directory; a plan must be a regular file\n");
    }
}

TEST_CASE("cli: --keepalive takes a duration of at least 1ms or off; anything else exits 2 naming it") {
    const std::string plan = "'" + source("plans/quickstart.yaml") + "'";
    auto no_unit = kperf_plan("run --dry-run --keepalive 5 " + plan);
    CHECK(no_unit.status == 2);
    CHECK(no_unit.out == "kperf-plan: --keepalive: expected off or a duration of at least 1ms such as 500ms "
                         "or 5s, got '5'\n");
    auto zero = kperf_plan("check --keepalive 0s /nonexistent/plan.yaml");
    CHECK(zero.status == 2);
    CHECK(zero.out == "kperf-plan: --keepalive: expected off or a duration of at least 1ms such as 500ms "
                      "or 5s, got '0s'\n");
    CHECK(kperf_plan("run --dry-run --keepalive 500ms " + plan).status == 0);
    CHECK(kperf_plan("run --dry-run --keepalive off " + plan).status == 0);
}

TEST_CASE("cli: the gate's usage errors exit 2 with their message, before anything runs") {
    const std::string plan = "'" + source("plans/quickstart.yaml") + "'";
    auto few = kperf_plan("baseline --runs 2 -o /tmp/kp-never-made " + plan);
    CHECK(few.status == 2);
    CHECK(few.out == "kperf-plan: baseline: --runs 2: at least 3 runs are needed to tell noise\n");
    auto confirm = kperf_plan("run --confirm 2 -o /tmp/kp-never-made " + plan);
    CHECK(confirm.status == 2);
    CHECK(confirm.out == "kperf-plan: --confirm needs --baseline\n");
    auto unit = kperf_plan("run --tolerance throughput_bps=5 -o /tmp/kp-never-made " + plan);
    CHECK(unit.status == 2);
    CHECK(unit.out == "kperf-plan: --tolerance throughput_bps=5: throughput_bps: expected a tolerance such as 5% "
                      "or 0.5%, or off; got '5'\n");
    auto name = kperf_plan("compare --tolerance thruput_bps=5% a.json b.json");
    CHECK(name.status == 2);
    CHECK(name.out == "kperf-plan: compare: --tolerance thruput_bps=5%: unknown metric 'thruput_bps', did you "
                      "mean 'throughput_bps'?\n");
    struct stat st {};
    CHECK(::stat("/tmp/kp-never-made", &st) != 0); // nothing ran, nothing was made
}
