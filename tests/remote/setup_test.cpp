// The agent's setups without touching this machine: commands (exit codes, bounded output, the
// time limit), failing steps and what is undone, restore. The sysctl and restore-on-exit paths
// run against namespace hosts in tests/e2e/setup_test.cpp.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "remote/setup.hpp"

using namespace kp::remote;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {
auto soon(std::chrono::milliseconds d = 10s) {
    return std::chrono::steady_clock::now() + d;
}
/// A scratch directory, removed at scope exit.
struct scratch_dir {
    fs::path dir = fs::temp_directory_path() / ("kp-setup-test-" + std::to_string(::getpid()));
    scratch_dir() { fs::create_directories(dir); }
    ~scratch_dir() { fs::remove_all(dir); }
};
} // namespace

TEST_CASE("setup: run_shell gives the exit code, stdout and stderr apart, the first 4 KiB of each") {
    auto c = run_shell("echo out; echo err >&2; exit 3", soon());
    CHECK(c.exit_code == 3);
    CHECK(c.stdout_text == "out\n");
    CHECK(c.stderr_text == "err\n");
    auto big = run_shell("head -c 100000 /dev/zero | tr '\\0' x", soon());
    CHECK(big.exit_code == 0);
    CHECK(big.stdout_text.size() == setup_output_cap);
    // stdin is /dev/null, never the agent's control stream.
    auto in = run_shell("cat; echo done", soon());
    CHECK(in.stdout_text == "done\n");
    auto sig = run_shell("kill -TERM $$", soon());
    CHECK(sig.exit_code == 128 + 15);
}

TEST_CASE("setup: a command past its time is killed with what it started") {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = run_shell("sleep 30 & sleep 30", soon(300ms));
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(c.exit_code == 128 + 9);
    CHECK(c.stderr_text.find("time ran out") != std::string::npos);
    CHECK(took < 3s);
}

TEST_CASE("setup: apply runs the commands in order; restore runs undo; a failing step is named and "
          "undone") {
    scratch_dir s;
    host_setups hs;
    const std::string log = (s.dir / "log").string();
    setup_apply_args a;
    a.setup = "cmds";
    a.run = {"echo one >> " + log, "echo two >> " + log};
    a.undo = {"echo undo >> " + log};
    auto r = hs.apply(a, soon());
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error()));
    REQUIRE(r->commands.size() == 2);
    CHECK(r->commands[1].command == "echo two >> " + log);
    CHECK(r->commands[1].exit_code == 0);
    auto twice = hs.apply(a, soon());
    REQUIRE_FALSE(twice.has_value());
    CHECK(twice.error() == "setup 'cmds' is applied already; restore it first");
    auto back = hs.restore("cmds", soon());
    REQUIRE(back.has_value());
    CHECK(back->errors.empty());
    REQUIRE(back->commands.size() == 1);
    std::ifstream in(log);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    CHECK(all == "one\ntwo\nundo\n");
    auto again = hs.restore("cmds", soon());
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error() == "setup 'cmds' is not applied");

    // A failing command: its stderr in the error, and undo runs since a command ran.
    setup_apply_args bad;
    bad.setup = "bad";
    bad.run = {"echo 'Cannot find device \"eth7\"' >&2; exit 1"};
    bad.undo = {"touch " + (s.dir / "undone").string()};
    auto f = hs.apply(bad, soon());
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error() ==
          "run 'echo 'Cannot find device \"eth7\"' >&2; exit 1': exit 1: Cannot find device \"eth7\"");
    CHECK(fs::exists(s.dir / "undone"));
    CHECK_FALSE(hs.restore("bad", soon()).has_value()); // nothing stays applied

    // An unknown sysctl fails before anything is written; undo does not run (no command ran).
    setup_apply_args nope;
    nope.setup = "nope";
    nope.sysctl = {{"net.core.kp_no_such_sysctl", "1"}};
    nope.run = {"touch " + (s.dir / "ran").string()};
    nope.undo = {"touch " + (s.dir / "undo2").string()};
    auto u = hs.apply(nope, soon());
    REQUIRE_FALSE(u.has_value());
    CHECK(u.error() ==
          "sysctl net.core.kp_no_such_sysctl: unknown sysctl (no /proc/sys/net/core/kp_no_such_sysctl)");
    CHECK_FALSE(fs::exists(s.dir / "ran"));
    CHECK_FALSE(fs::exists(s.dir / "undo2"));

    // An interface without IRQs.
    setup_apply_args irq;
    irq.setup = "irq";
    irq.irq_affinity = {{"kp-no-such-if0", "0"}};
    auto q = hs.apply(irq, soon());
    REQUIRE_FALSE(q.has_value());
    CHECK(q.error().starts_with("irq_affinity kp-no-such-if0: the interface has no IRQs"));
    CHECK(interface_irqs("lo").empty());

    // restore_all puts back every applied setup, newest first.
    setup_apply_args x, y;
    x.setup = "x";
    x.run = {"true"};
    x.undo = {"echo x >> " + (s.dir / "order").string()};
    y.setup = "y";
    y.run = {"true"};
    y.undo = {"echo y >> " + (s.dir / "order").string()};
    REQUIRE(hs.apply(x, soon()).has_value());
    REQUIRE(hs.apply(y, soon()).has_value());
    CHECK(hs.restore_all(soon()).size() == 2);
    std::ifstream o(s.dir / "order");
    std::string order((std::istreambuf_iterator<char>(o)), {});
    CHECK(order == "y\nx\n");
    CHECK(hs.restore_all(soon()).empty());
}
