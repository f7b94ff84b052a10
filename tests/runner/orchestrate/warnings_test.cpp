// What qualifies an instance's figures without failing it: a client that did not send on
// schedule, a side whose window overran, a server reached by connections without the token.
#include <doctest/doctest.h>

#include "runner/orchestrate/orchestrate.hpp"
#include "runner/plan/expand.hpp"
#include "runner/results/record.hpp"

using namespace kp;
using namespace kp::runner;
using namespace std::chrono_literals;

namespace {

expectation below(std::string metric, double us) {
    expectation e;
    e.metric = std::move(metric);
    e.op = comparison::lt;
    e.bound = us;
    return e;
}

} // namespace

TEST_CASE("warnings: send lateness is judged against 20 us or a tenth of the tightest latency bound") {
    instance inst;
    CHECK(lateness_limit_us(inst) == 20);
    inst.expect = {below("latency_p99", 5000), below("latency_p50", 1000), below("throughput_bps", 1e9)};
    CHECK(lateness_limit_us(inst) == 100); // p50 < 1 ms is the tightest; throughput is no latency
    inst.expect = {below("latency_p99", 100)};
    CHECK(lateness_limit_us(inst) == 20); // never below 20 us
    search_rule s;
    s.slo = {below("latency_p99", 2000)};
    inst.expect.clear();
    inst.search = s;
    CHECK(lateness_limit_us(inst) == 200);

    CHECK_FALSE(lateness_warning(inst, std::nullopt)); // closed loop: nothing paced
    CHECK_FALSE(lateness_warning(inst, 199.0));
    auto w = lateness_warning(inst, 250.0);
    REQUIRE(w);
    CHECK(*w == "the client's paced sends left late (send_lateness_p99 250 us > 200 us): its latencies include "
                "that delay; it could not keep the schedule (a busy client CPU or a late timer)");
}

TEST_CASE("warnings: paced sends held for an in-flight place past a tenth are named once") {
    instance inst;
    inst.job.flows = 2;
    inst.job.in_flight = 4;
    inst.job.rate = 50'000;
    instance_record rec;
    rec.repeats.resize(2);
    for (int i = 0; i < 1000; ++i) {
        rec.repeats[0].client.send_lateness.record(1'000);
        rec.repeats[1].client.send_lateness.record(1'000);
    }
    rec.repeats[0].client.sends_held = 150;
    rec.repeats[1].client.sends_held = 50; // 200 of 2000: exactly a tenth, not above it
    CHECK_FALSE(held_warning(inst, rec));
    rec.repeats[1].client.sends_held = 101;
    rec.repeats[1].server.sends_held = 900; // the server's side never counts
    auto w = held_warning(inst, rec);
    REQUIRE(w);
    CHECK(*w == "12.6% of the paced sends waited for an earlier reply (8 in flight at most: flows x in_flight, "
                "at 50.0k/s): their latencies include the wait; more flows or in_flight offer the rate without it");
    CHECK_FALSE(held_warning(inst, instance_record{})); // closed loop: nothing paced
}

TEST_CASE("warnings: a side whose window lasted more than 5% past the plan is named, repeat by repeat") {
    instance inst;
    inst.job.duration = 10s;
    instance_record rec;
    rec.client_host = "c";
    rec.server_host = "s";
    repeat_record ok, stretched;
    ok.index = 0;
    ok.client.window_start_ns = ok.server.window_start_ns = 1'000'000'000;
    ok.client.window_end_ns = ok.server.window_end_ns = 11'040'000'000; // 10.04 s: within 5%
    stretched = ok;
    stretched.index = 1;
    stretched.server.window_end_ns = 23'100'000'000; // 22.1 s: SIGSTOPped for 12 s
    rec.repeats = {ok, stretched};
    auto w = window_overruns(inst, rec);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == "repeat 1: the server's window on s lasted 22.1 s against 10.0 s planned (was its agent "
                  "stopped or starved?): its rates count over the planned length, so they are overstated");
    rec.repeats = {ok};
    CHECK(window_overruns(inst, rec).empty());
}

TEST_CASE("warnings: a server that refused connections without the token is named, repeat by repeat") {
    instance_record rec;
    rec.server_host = "s";
    repeat_record clean, hit, one;
    clean.index = 0;
    hit.index = 1;
    hit.server.errors.rejected_hello = 40;
    one.index = 2;
    one.server.errors.rejected_hello = 1;
    rec.repeats = {clean, hit, one};
    auto w = rejected_hello_warnings(rec);
    REQUIRE(w.size() == 2);
    CHECK(w[0] == "repeat 1: the server on s refused 40 connections without the run's token "
                  "(errors.rejected_hello): something else reached its data port while it ran, and may "
                  "have loaded it");
    CHECK(w[1] == "repeat 2: the server on s refused 1 connection without the run's token "
                  "(errors.rejected_hello): something else reached its data port while it ran, and may "
                  "have loaded it");
    rec.repeats = {clean};
    CHECK(rejected_hello_warnings(rec).empty());
}

TEST_CASE("warnings: a repeat whose host lost CPU time to the hypervisor is named") {
    instance_record rec;
    rec.client_host = "c";
    rec.server_host = "s";
    auto side = [](double seconds, std::size_t cpus, double steal) {
        kp::engine::side_result r;
        r.seconds = seconds;
        r.cpus.resize(cpus);
        r.cpu_total.steal = steal;
        return r;
    };
    repeat_record calm, stolen, no_cpu;
    calm.index = 0;
    calm.client = side(2, 2, 0.08); // 2% of 4 CPU-seconds: at the limit, not above it
    calm.server = side(2, 2, 0.01);
    stolen.index = 1;
    stolen.client = side(2, 2, 0.04);
    stolen.server = side(2, 2, 0.5); // 12.5%
    no_cpu.index = 2;
    no_cpu.server.cpu_total.steal = 9; // no window, no CPUs: nothing to divide by
    CHECK(steal_share(calm) == doctest::Approx(0.02));
    CHECK(steal_share(stolen) == doctest::Approx(0.125));
    CHECK(steal_share(no_cpu) == 0);
    rec.repeats = {calm, stolen, no_cpu};
    auto w = steal_warnings(rec);
    REQUIRE(w.size() == 1);
    CHECK(w[0] == "repeat 1: the hypervisor took 12.5% of s's CPU time in the window (/proc/stat steal): "
                  "latency tails and rates here are partly the VM's");
}
