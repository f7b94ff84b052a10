#include <doctest/doctest.h>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <ranges>
#include <set>
#include <thread>

#include "engine/stats/cpu_stats.hpp"
#include "engine/worker/placement.hpp"

using namespace kp::engine;

namespace {

placement_rule rx(int offset = 0) {
    return {placement_rule::kind::rx, offset, {}};
}
placement_rule cpus(std::vector<int> list) {
    return {placement_rule::kind::cpus, 0, std::move(list)};
}

// True when no two chosen candidates share a local or a remote CPU.
bool distinct(std::span<const std::pair<int, int>> c, const std::vector<std::size_t>& chosen) {
    std::set<int> l, r;
    for (auto i : chosen)
        if (!l.insert(c[i].first).second || !r.insert(c[i].second).second) return false;
    return true;
}

// Largest distinct subset by brute force (for small inputs).
std::size_t brute_max(std::span<const std::pair<int, int>> c) {
    std::size_t best = 0;
    for (unsigned mask = 0; mask < (1u << c.size()); ++mask) {
        std::vector<std::size_t> chosen;
        for (std::size_t i = 0; i < c.size(); ++i)
            if (mask & (1u << i)) chosen.push_back(i);
        if (chosen.size() > best && distinct(c, chosen)) best = chosen.size();
    }
    return best;
}

} // namespace

TEST_CASE("placement: place() over a table of rules") {
    const std::vector<int> four{0, 1, 2, 3};
    const std::vector<int> gaps{2, 5, 7};
    struct row {
        placement_rule rule;
        int rx_cpu;
        const std::vector<int>* allowed;
        std::size_t worker;
        int want;
    };
    const row rows[] = {
        {placement_rule{}, 2, &four, 0, -1}, // any: do not pin
        {rx(), 2, &four, 0, 2},              // rx itself
        {rx(1), 2, &four, 0, 3},             // rx+1
        {rx(1), 3, &four, 0, 0},             // rx+1 wraps to the first
        {rx(-1), 0, &four, 0, 3},            // rx-1 wraps to the last
        {rx(5), 1, &four, 0, 2},             // offsets larger than the list wrap again
        {rx(-9), 1, &four, 0, 0},            // ... in both directions
        {rx(4), 1, &four, 0, 1},             // a full turn is rx itself
        {rx(1), 5, &gaps, 0, 7},             // positions, not CPU numbers
        {rx(2), 5, &gaps, 0, 2},             // 5 -> 7 -> 2
        {rx(), 6, &gaps, 0, 5},              // rx not allowed: nearest, the lower on a tie
        {rx(), 9, &gaps, 0, 7},              // beyond the last allowed
        {rx(), 0, &gaps, 0, 2},              // below the first allowed
        {rx(1), 6, &gaps, 0, 7},             // nearest (5), then +1
        {rx(), -1, &four, 0, -1},            // unknown Rx CPU: do not pin
        {cpus({3, 1}), 0, &four, 0, 3},      // CPU list: round robin in the order written
        {cpus({3, 1}), 0, &four, 1, 1},
        {cpus({3, 1}), 0, &four, 2, 3},
        {cpus({}), 0, &four, 0, -1},
    };
    for (const auto& r : rows) {
        CAPTURE(to_string(r.rule));
        CAPTURE(r.rx_cpu);
        CAPTURE(r.worker);
        CHECK(place(r.rule, r.rx_cpu, *r.allowed, r.worker) == r.want);
    }
    CHECK(place(rx(), 1, std::span<const int>{}, 0) == -1);
}

TEST_CASE("placement: check_placement explains rules that can never hold") {
    const std::vector<int> two{0, 1};
    CHECK(!check_placement(placement_rule{}, two));
    CHECK(!check_placement(rx(3), two));
    CHECK(!check_placement(cpus({1, 0}), two));
    CHECK(check_placement(cpus({1, 4}), two) == "placement 1,4: CPU 4 not allowed here (allowed: 0-1)");
    CHECK(check_placement(cpus({4, 5, 7}), two) ==
          "placement 4-5,7: CPUs 4-5,7 not allowed here (allowed: 0-1)");
    CHECK(check_placement(cpus({}), two) == "placement: the CPU list is empty");
    CHECK(check_placement(rx(1), std::span<const int>{}) == "placement rx+1: no CPUs are allowed");
}

TEST_CASE("placement: an rx offset that wraps onto the Rx CPU itself is noted") {
    const std::vector<int> two{0, 1}, four{0, 1, 2, 3};
    CHECK(wrap_note(rx(2), two) == "placement rx+2 wraps onto the Rx CPU itself: 2 CPUs are allowed (0-1)");
    CHECK(place(rx(2), 1, two) == 1); // what the note is about
    CHECK(wrap_note(rx(-4), two) == "placement rx-4 wraps onto the Rx CPU itself: 2 CPUs are allowed (0-1)");
    CHECK(wrap_note(rx(1), std::vector<int>{3}) ==
          "placement rx+1 wraps onto the Rx CPU itself: 1 CPU is allowed (3)");
    CHECK_FALSE(wrap_note(rx(2), four));
    CHECK_FALSE(wrap_note(rx(3), two)); // wraps, but onto the other CPU
    CHECK_FALSE(wrap_note(rx(0), two)); // rx itself is what was asked
    CHECK_FALSE(wrap_note(cpus({0, 0}), two));
    CHECK_FALSE(wrap_note(rx(2), std::span<const int>{}));
}

TEST_CASE("placement: parse and print plan syntax") {
    for (std::string_view s : {"any", "rx", "rx+2", "rx-1", "0-3,8", "5"}) {
        const auto r = parse_placement(s);
        REQUIRE(r);
        CHECK(to_string(*r) == s);
    }
    CHECK(parse_placement("rx+2")->offset == 2);
    CHECK(parse_placement("rx-3")->offset == -3);
    CHECK(parse_placement("8,0-2")->cpus == std::vector<int>{0, 1, 2, 8});
    CHECK(parse_placement("rx*2").error().message == "bad placement 'rx*2'");
    CHECK(parse_placement("rx+").error().message == "bad placement 'rx+': expected rx+N or rx-N");
    CHECK(parse_placement("3-1").error().message ==
          "bad placement '3-1' (expected any, rx, rx+N, rx-N or a CPU list): bad CPU list item '3-1'");
    CHECK(parse_cpu_list("").error().message == "empty CPU list");
    CHECK(parse_cpu_list("1,,2").error().message == "bad CPU list item ''");
    CHECK(format_cpu_list(std::vector<int>{7, 1, 2, 3, 5, 2}) == "1-3,5,7");
}

TEST_CASE("placement: pin_thread pins a thread by id and the kernel agrees") {
    const auto allowed = allowed_cpus();
    REQUIRE(allowed);
    for (int cpu : *allowed | std::views::take(8)) {
        CAPTURE(cpu);
        std::atomic<pid_t> tid{0};
        std::atomic<bool> pinned{false};
        int ran_on = -1;
        cpu_set_t seen;
        CPU_ZERO(&seen);
        std::thread worker([&] {
            tid = gettid();
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!pinned && std::chrono::steady_clock::now() < give_up)
                std::this_thread::yield();
            sched_yield();
            ran_on = sched_getcpu();
            sched_getaffinity(0, sizeof seen, &seen);
        });
        while (tid == 0)
            std::this_thread::yield();
        const auto r = pin_thread(tid, cpu); // pinned from another thread, by id, as the engine does
        pinned = true;
        worker.join();
        REQUIRE(r);
        CHECK(ran_on == cpu);
        CHECK(CPU_COUNT(&seen) == 1);
        CHECK(CPU_ISSET(cpu, &seen));
    }
    const auto bad = pin_thread(0, 1023);
    REQUIRE(!bad);
    CHECK(bad.error().message == "pin thread 0 to CPU 1023: Invalid argument");
    CHECK(pin_thread(0, -1).error().message == "pin thread 0 to CPU -1: no such CPU");
}

TEST_CASE("distinct_rx: finds a perfect matching that greedy would miss") {
    // Greedy takes (0,0) first and then nothing fits; the maximum is {(0,1), (1,0)}.
    const std::vector<std::pair<int, int>> c{{0, 0}, {0, 1}, {1, 0}};
    CHECK(match_distinct_rx(c, 2) == std::vector<std::size_t>{1, 2});
    CHECK(match_distinct_rx(c, 1).size() == 1);
    CHECK(match_distinct_rx(c, 0).empty());
}

TEST_CASE("distinct_rx: no perfect matching when the Rx CPUs repeat") {
    const std::vector<std::pair<int, int>> same{{0, 0}, {0, 0}, {0, 0}, {0, 0}};
    CHECK(match_distinct_rx(same, 3).size() == 1);
    const std::vector<std::pair<int, int>> one_remote{{0, 5}, {1, 5}, {2, 5}, {3, 5}};
    CHECK(match_distinct_rx(one_remote, 2).size() == 1);
    const std::vector<std::pair<int, int>> unknown{{-1, 0}, {0, -1}, {1, 1}};
    CHECK(match_distinct_rx(unknown, 3) == std::vector<std::size_t>{2});
    CHECK(match_distinct_rx(std::span<const std::pair<int, int>>{}, 4).empty());
}

TEST_CASE("distinct_rx: maximum on random small cases, by brute force") {
    std::mt19937 rng(3);
    for (int round = 0; round < 300; ++round) {
        std::vector<std::pair<int, int>> c(1 + rng() % 10);
        for (auto& p : c)
            p = {static_cast<int>(rng() % 4), static_cast<int>(rng() % 5)};
        const auto got = match_distinct_rx(c, 100);
        CHECK(distinct(c, got));
        CHECK(got.size() == brute_max(c));
        CHECK(std::ranges::is_sorted(got));
    }
}

TEST_CASE("distinct_rx: large inputs finish fast and stay bounded") {
    std::mt19937 rng(5);
    std::vector<std::pair<int, int>> c(20000);
    for (auto& p : c)
        p = {static_cast<int>(rng() % 128), static_cast<int>(rng() % 128)};
    const auto start = std::chrono::steady_clock::now();
    const auto got = match_distinct_rx(c, 1000);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
    CHECK(got.size() == 128);
    CHECK(distinct(c, got));
}

TEST_CASE("distinct_rx: diagnosis names what was seen and the RSS/RPS hint") {
    const std::vector<std::pair<int, int>> c{{0, 1}, {0, 1}, {1, 1}, {-1, 1}};
    const auto d = diagnose_distinct_rx(c, 4);
    CHECK(d.local_cpus == std::vector<int>{0, 1});
    CHECK(d.remote_cpus == std::vector<int>{1});
    CHECK(d.matched == 1);
    CHECK(d.message() ==
          "distinct_rx: 1 of 4 flows on distinct Rx CPUs after 4 connections; distinct Rx CPUs "
          "seen: 2 local (0-1), 1 remote (1); hint: the Rx CPU is chosen by RSS (NIC queues: "
          "ethtool -l / -x) or RPS (/sys/class/net/DEV/queues/rx-*/rps_cpus); on loopback it is "
          "the sender's CPU");
}
