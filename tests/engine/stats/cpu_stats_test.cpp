#include <doctest/doctest.h>

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <thread>

#include "engine/stats/cpu_stats.hpp"

using namespace kp::engine;
using namespace std::chrono_literals;

namespace {

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Spins the calling thread until it has used `cpu_s` of CPU (not wall time: on a shared, loaded
// box a wall-time spin may get only a fraction of a CPU), giving up after `limit` of wall time.
// Returns the CPU seconds spun.
double spin_cpu(double cpu_s, std::chrono::steady_clock::duration limit) {
    const double start = thread_cpu_s();
    const auto give_up = std::chrono::steady_clock::now() + limit;
    volatile std::uint64_t x = 0;
    while (thread_cpu_s() - start < cpu_s && std::chrono::steady_clock::now() < give_up)
        for (int i = 0; i < 10000; ++i)
            x = x + static_cast<std::uint64_t>(i);
    return thread_cpu_s() - start;
}

double secs(std::chrono::steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

} // namespace

TEST_CASE("cpu_stats: parses /proc/stat lines, short lines leave the rest 0") {
    const auto snap = parse_proc_stat("cpu  100 1 50 1000 7 3 4 2 0 0\n"
                                      "cpu0 60 1 30 500 7 3 4 2 0 0\n"
                                      "cpu1 40 0 20 500\n"
                                      "intr 12345 0 0\n"
                                      "ctxt 999\n");
    REQUIRE(snap);
    CHECK(snap->total.cpu == -1);
    CHECK(snap->total.user == 100);
    CHECK(snap->total.steal == 2);
    REQUIRE(snap->cpus.size() == 2);
    CHECK(snap->cpus[0].cpu == 0);
    CHECK(snap->cpus[0].softirq == 4);
    CHECK(snap->cpus[1].cpu == 1);
    CHECK(snap->cpus[1].idle == 500);
    CHECK(snap->cpus[1].iowait == 0);
}

TEST_CASE("cpu_stats: rejects /proc/stat without a cpu line or with garbage") {
    auto none = parse_proc_stat("intr 1\n");
    REQUIRE(!none);
    CHECK(none.error().message == "/proc/stat: no 'cpu' line");
    auto garbage = parse_proc_stat("cpu  1 2 x\n");
    REQUIRE(!garbage);
    CHECK(garbage.error().message == "/proc/stat: cannot parse line 'cpu  1 2 x'");
}

TEST_CASE("cpu_stats: a late end snapshot is scaled back to the window, and no CPU exceeds it") {
    const auto hz = static_cast<std::uint64_t>(clock_ticks_per_second());
    cpu_snapshot a, b;
    a.at = std::chrono::steady_clock::time_point(std::chrono::seconds(10));
    b.at = a.at + std::chrono::milliseconds(1100); // the end was read 100 ms late
    // CPU 0: busy all 1.1 s; CPU 1: 0.55 s busy and 0.55 s idle.
    a.cpus = {{0, 0, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0}};
    b.cpus = {{0, hz * 11 / 10, 0, 0, 0, 0, 0, 0, 0}, {1, hz * 55 / 100, 0, 0, hz * 55 / 100, 0, 0, 0, 0}};
    b.total = {-1, hz * 165 / 100, 0, 0, hz * 55 / 100, 0, 0, 0, 0};
    auto w = cpu_delta_over(a, b, 1.0);
    REQUIRE(w.cpus.size() == 2);
    CHECK(w.cpus[0].busy() == doctest::Approx(1.0));
    CHECK(w.cpus[1].busy() == doctest::Approx(0.5));
    CHECK(w.cpus[1].idle == doctest::Approx(0.5));
    CHECK(w.total.busy() == doctest::Approx(1.5));
    CHECK(w.total.busy() + w.total.idle == doctest::Approx(2.0));
    // On time, but a tick too many on CPU 0 (ticks are coarse): capped at the window.
    b.at = a.at + std::chrono::seconds(1);
    b.cpus[0].user = hz + 2;
    w = cpu_delta_over(a, b, 1.0);
    CHECK(w.cpus[0].busy() == doctest::Approx(1.0));
    CHECK(w.total.busy() + w.total.idle <= 2.0 + 1e-9);
    // A shorter span is left as it is (a VM may lose ticks; nothing is invented).
    b.at = a.at + std::chrono::milliseconds(900);
    b.cpus[0].user = hz * 9 / 10;
    w = cpu_delta_over(a, b, 1.0);
    CHECK(w.cpus[0].busy() == doctest::Approx(0.9));
}

TEST_CASE("cpu_stats: delta converts ticks to seconds, iowait is idle, a vanished CPU is left out") {
    const double hz = static_cast<double>(clock_ticks_per_second());
    cpu_snapshot a, b;
    a.total = {-1, 10, 0, 10, 100, 0, 0, 0, 0};
    b.total = {
        -1, 10 + 2 * static_cast<std::uint64_t>(hz), 0, 10 + static_cast<std::uint64_t>(hz), 100, 50, 0, 0,
        0};
    a.cpus = {{0, 1, 0, 0, 0, 0, 0, 0, 0}, {1, 0, 0, 0, 0, 0, 0, 0, 0}};
    b.cpus = {{0, 1 + static_cast<std::uint64_t>(hz), 0, 0, 0, 0, 5, 0, 0}, {2, 9, 9, 9, 9, 9, 9, 9, 9}};
    const auto w = cpu_delta(a, b);
    CHECK(w.total.cpu == -1);
    CHECK(w.total.user == doctest::Approx(2.0));
    CHECK(w.total.system == doctest::Approx(1.0));
    CHECK(w.total.idle == doctest::Approx(50.0 / hz));
    CHECK(w.total.busy() == doctest::Approx(3.0));
    REQUIRE(w.cpus.size() == 1);
    CHECK(w.cpus[0].cpu == 0);
    CHECK(w.cpus[0].user == doctest::Approx(1.0));
    CHECK(w.cpus[0].irq == doctest::Approx(5.0 / hz));
}

TEST_CASE("cpu_stats: a thread busy for 0.3 CPU-seconds shows in the /proc/stat window and in rusage") {
    const auto before = read_cpu_snapshot();
    const auto proc_before = read_rusage(rusage_scope::process);
    REQUIRE(before);
    REQUIRE(proc_before);
    rusage_times spun;
    double clock_spun = 0;
    std::thread t([&] {
        const auto start = read_rusage(rusage_scope::thread);
        clock_spun = spin_cpu(0.3, 10s);
        const auto end = read_rusage(rusage_scope::thread);
        if (start && end) spun = rusage_delta(*start, *end);
    });
    t.join();
    const auto after = read_cpu_snapshot();
    const auto proc_after = read_rusage(rusage_scope::process);
    REQUIRE(after);
    REQUIRE(proc_after);
    const double elapsed = secs(after->at - before->at);
    const auto w = cpu_delta(*before, *after);

    // The thread's rusage agrees with its CPU clock (~0.3 s whatever else shares the box).
    REQUIRE(clock_spun >= 0.3);
    CHECK(spun.total() == doctest::Approx(clock_spun).epsilon(0.1));
    CHECK(spun.total() <= elapsed + 0.02);
    CHECK(rusage_delta(*proc_before, *proc_after).total() >= spun.total() - 0.02);
    // The host was busy at least that long (ticks are 1/USER_HZ, hence 0.15 rather than 0.3).
    CHECK(w.total.busy() >= 0.15);
    // Every CPU's time adds up to the wall time: busy + idle ~= elapsed per CPU (within 30%).
    REQUIRE(!w.cpus.empty());
    double sum = 0;
    for (const auto& c : w.cpus)
        sum += c.busy() + c.idle;
    const double n = static_cast<double>(w.cpus.size());
    CHECK(sum >= 0.7 * elapsed * n);
    CHECK(sum <= 1.3 * elapsed * n);
    CHECK(w.total.busy() + w.total.idle == doctest::Approx(sum).epsilon(0.1));
}

TEST_CASE("cpu_stats: allowed CPUs include the one we run on") {
    const auto cpus = allowed_cpus();
    REQUIRE(cpus);
    REQUIRE(!cpus->empty());
    CHECK(std::ranges::is_sorted(*cpus));
    CHECK(static_cast<int>(cpus->size()) <= cpu_count());
    CHECK(std::ranges::find(*cpus, sched_getcpu()) != cpus->end());
}
