#include <doctest/doctest.h>

#include <vector>

#include "engine/stats/fold.hpp"
#include "engine/traffic/traffic.hpp"
#include "runner/results/aggregate.hpp"

using namespace kp;
using namespace kp::runner;

TEST_CASE("aggregate: summary of three repeats has median, min, max and a Student-t CI") {
    std::vector<double> v{14, 10, 12};
    auto s = summarize(v);
    CHECK(s.n == 3);
    CHECK(s.mean == doctest::Approx(12));
    CHECK(s.median == doctest::Approx(12));
    CHECK(s.min == doctest::Approx(10));
    CHECK(s.max == doctest::Approx(14));
    CHECK(s.stddev == doctest::Approx(2));
    // t(0.975, 2) = 4.303; half width = 4.303 * 2 / sqrt(3)
    CHECK(s.ci_low == doctest::Approx(12 - 4.969).epsilon(0.001));
    CHECK(s.ci_high == doctest::Approx(12 + 4.969).epsilon(0.001));
    CHECK(s.relative_ci_width() == doctest::Approx(2 * 4.969 / 12).epsilon(0.001));
}

TEST_CASE("aggregate: one repeat has no CI and an even count takes the middle pair's mean") {
    std::vector<double> one{5};
    auto s = summarize(one);
    CHECK_FALSE(s.has_ci());
    CHECK(s.ci_low == 5);
    CHECK(s.ci_high == 5);
    std::vector<double> four{1, 2, 3, 10};
    CHECK(summarize(four).median == doctest::Approx(2.5));
    CHECK(summarize(std::vector<double>{}).n == 0);
}

TEST_CASE("aggregate: Student t quantiles") {
    CHECK(student_t_975(1) == doctest::Approx(12.706));
    CHECK(student_t_975(9) == doctest::Approx(2.262));
    CHECK(student_t_975(30) == doctest::Approx(2.042));
    CHECK(student_t_975(1000) == doctest::Approx(1.960));
}

TEST_CASE("aggregate: until rule repeats while the CI is wide, and stops at max_repeat") {
    until_rule rule{.ci_width = 0.02, .min_repeat = 3, .max_repeat = 6};
    CHECK(needs_another_repeat(rule, std::vector<double>{100, 100}));               // below min_repeat
    CHECK_FALSE(needs_another_repeat(rule, std::vector<double>{100, 100.1, 99.9})); // tight
    CHECK(needs_another_repeat(rule, std::vector<double>{100, 130, 70}));           // wide
    CHECK_FALSE(needs_another_repeat(rule, std::vector<double>{100, 130, 70, 100, 130, 70})); // max reached
}

namespace {
engine::side_result side(double seconds) {
    engine::side_result s;
    s.seconds = seconds;
    s.flows.resize(1);
    return s;
}
/// As the engine does when it builds a side: totals over the flows (the runner reads those).
metric_values derive(engine::traffic kind, engine::side_result client, engine::side_result server) {
    client.totals = engine::totals_of(client.flows);
    server.totals = engine::totals_of(server.flows);
    return derive_metrics(kind, client, server);
}
} // namespace

TEST_CASE("aggregate: latency percentiles come from the merged histogram, not averaged") {
    engine::histogram a, b;
    for (int i = 0; i < 990; ++i)
        a.record(100'000); // 100 us
    for (int i = 0; i < 10; ++i)
        b.record(10'000'000); // 10 ms
    std::vector<engine::histogram> hs{a, b};
    std::vector<metric_values> vals(2);
    vals[0][static_cast<std::size_t>(metric::latency_p99)] = *latency_from(a, metric::latency_p99);
    vals[1][static_cast<std::size_t>(metric::latency_p99)] = *latency_from(b, metric::latency_p99);
    auto agg = aggregate_repeats(vals, hs);
    const auto* p99 = agg.find(metric::latency_p99);
    REQUIRE(p99);
    CHECK(p99->value == doctest::Approx(100).epsilon(0.01));       // merged: 990 of 1000 are 100 us
    CHECK(p99->stats.mean == doctest::Approx(5050).epsilon(0.01)); // what averaging would claim
    REQUIRE(p99->per_repeat.size() == 2);
    CHECK(agg.latency.count() == 1000);
    CHECK(agg.find(metric::throughput_bps) == nullptr);
}

TEST_CASE("aggregate: metrics of a forward stream come from the receiving side") {
    auto client = side(10), server = side(10);
    client.flows[0].bytes_sent = 1'250'000'000;
    server.flows[0].bytes_received = 1'250'000'000; // 1 Gbit/s over 10 s
    server.flows[0].tcp.total_retrans = 3;
    client.cpu_total.system = 2.0;
    server.cpu_total.softirq = 1.5;
    auto v = derive(engine::traffic::tcp_stream, client, server);
    CHECK(*v[static_cast<std::size_t>(metric::throughput_bps)] == doctest::Approx(1e9));
    CHECK_FALSE(v[static_cast<std::size_t>(metric::transactions_per_s)]);
    CHECK_FALSE(v[static_cast<std::size_t>(metric::latency_p50)]);
    CHECK(*v[static_cast<std::size_t>(metric::retransmits)] == 3);
    CHECK(*v[static_cast<std::size_t>(metric::client_cpu_s)] == doctest::Approx(2.0));
    CHECK(*v[static_cast<std::size_t>(metric::server_cpu_s)] == doctest::Approx(1.5));
    // 1.25 GB moved: 2.0 s / 1.25 GB = 1.6 s/GB
    CHECK(*v[static_cast<std::size_t>(metric::client_service_demand)] == doctest::Approx(1.6));
    CHECK(*v[static_cast<std::size_t>(metric::server_service_demand)] == doctest::Approx(1.2));
}

TEST_CASE("aggregate: rr metrics: transactions/s, latency and CPU per transaction") {
    auto client = side(2), server = side(2);
    client.flows[0].transactions = 20'000;
    client.flows[0].bytes_received = 20'000 * 1000; // 1000 B responses
    server.flows[0].bytes_received = 20'000 * 64;   // 64 B requests
    for (int i = 0; i < 100; ++i)
        client.latency.record(50'000);
    client.cpu_total.user = 0.2;
    auto v = derive(engine::traffic::tcp_rr, client, server);
    CHECK(*v[static_cast<std::size_t>(metric::transactions_per_s)] == doctest::Approx(10'000));
    CHECK(*v[static_cast<std::size_t>(metric::latency_p50)] == doctest::Approx(50).epsilon(0.01));
    CHECK(*v[static_cast<std::size_t>(metric::client_service_demand)] == doctest::Approx(10)); // 0.2 s / 20k
    // Goodput of rr is the responses the client received, as docs/results.md says: 10k/s x 1000 B.
    CHECK(*v[static_cast<std::size_t>(metric::throughput_bps)] == doctest::Approx(8 * 10'000'000.0));
    // crr too: the server's hello and request bytes are not in it.
    client.flows[0].connections = 20'000;
    server.flows[0].bytes_received = 20'000 * (64 + 40);
    auto c = derive(engine::traffic::tcp_crr, client, server);
    CHECK(*c[static_cast<std::size_t>(metric::throughput_bps)] == doctest::Approx(8 * 10'000'000.0));
}

TEST_CASE("aggregate: udp loss ratio counts lost over expected") {
    auto client = side(1), server = side(1);
    server.flows[0].datagrams_received = 990;
    server.flows[0].lost = 10;
    auto v = derive(engine::traffic::udp_stream, client, server);
    CHECK(*v[static_cast<std::size_t>(metric::loss_ratio)] == doctest::Approx(0.01));
    CHECK_FALSE(v[static_cast<std::size_t>(metric::retransmits)]);
}

TEST_CASE("aggregate: udp_rr loss ratio is the share of transactions the client lost") {
    // 1000 requests, 100 dropped on the way to the server: it answered 900, the client got
    // 900 replies and timed out 100. Lost transactions: 100 of 1000.
    auto client = side(1), server = side(1);
    client.flows[0].datagrams_sent = 1000;
    client.flows[0].datagrams_received = 900;
    client.flows[0].transactions = 900;
    client.flows[0].lost = 100;
    server.flows[0].datagrams_received = 900;
    server.flows[0].datagrams_sent = 900;
    server.flows[0].transactions = 900;
    auto v = derive(engine::traffic::udp_rr, client, server);
    CHECK(*v[static_cast<std::size_t>(metric::loss_ratio)] == doctest::Approx(0.10));
}

TEST_CASE("aggregate: metric names round-trip") {
    for (metric m : all_metrics())
        CHECK(metric_from_name(info(m).name) == m);
    CHECK_FALSE(metric_from_name("latency_p98"));
    CHECK(headline_metric(engine::traffic::tcp_crr) == metric::connections_per_s);
}

TEST_CASE("aggregate: the headline metric follows the descriptor row") {
    for (const auto& row : engine::traffic_table) {
        CAPTURE(row.name);
        const metric m = headline_metric(row.kind);
        switch (row.head) {
        case engine::headline::throughput:
            CHECK(m == metric::throughput_bps);
            break;
        case engine::headline::transactions:
            CHECK(m == metric::transactions_per_s);
            break;
        case engine::headline::connections:
            CHECK(m == metric::connections_per_s);
            break;
        }
    }
    CHECK(headline_metric(engine::traffic::tcp_stream) == metric::throughput_bps);
    CHECK(headline_metric(engine::traffic::udp_stream) == metric::throughput_bps);
    CHECK(headline_metric(engine::traffic::tcp_rr) == metric::transactions_per_s);
    CHECK(headline_metric(engine::traffic::udp_rr) == metric::transactions_per_s);
}

TEST_CASE("aggregate: a folded side gives exactly the metrics of the unfolded one") {
    for (const auto& row : engine::traffic_table) {
        CAPTURE(row.name);
        engine::side_result client, server;
        client.seconds = server.seconds = 3;
        for (std::uint32_t i = 0; i < 1000; ++i) {
            engine::flow_result f;
            f.id = i;
            f.bytes_sent = 1'000'003ull * (i % 17) + i;
            f.bytes_received = 999'983ull * (i % 13) + 7 * i;
            f.transactions = 1000 + (i * 7919) % 4099;
            f.connections = 10 + (i * 104729) % 97;
            f.datagrams_sent = 500 + i % 31;
            f.datagrams_received = 490 + i % 29;
            f.lost = i % 5;
            f.tcp.total_retrans = i % 3;
            client.flows.push_back(f);
            f.bytes_sent += 11;
            server.flows.push_back(f);
        }
        client.cpu_total.user = server.cpu_total.system = 0.5;
        // What sums over `flows` gave before the totals existed.
        double moved = 0;
        for (const auto& f : server.flows)
            moved += static_cast<double>(f.bytes_received + f.bytes_sent);
        auto full_c = client, full_s = server;
        auto fold_c = client, fold_s = server;
        auto figure = [](const engine::flow_result& f) { return f.transactions; };
        engine::fold_flows(full_c, figure, true);
        engine::fold_flows(full_s, figure, true);
        engine::fold_flows(fold_c, figure, false);
        engine::fold_flows(fold_s, figure, false);
        REQUIRE(fold_c.flows.size() == 2 * engine::fold_keep);
        REQUIRE(full_c.flows.size() == 1000);
        auto full = derive_metrics(row.kind, full_c, full_s);
        auto folded = derive_metrics(row.kind, fold_c, fold_s);
        for (metric m : all_metrics()) {
            CAPTURE(info(m).name);
            CHECK(full[static_cast<std::size_t>(m)] == folded[static_cast<std::size_t>(m)]);
        }
        if (row.stream() && !row.udp())
            CHECK(*full[static_cast<std::size_t>(metric::server_service_demand)] == 0.5 / (moved / 1e9));
    }
}

TEST_CASE("metrics: measured_by says exactly which metrics derive_metrics sets, for every kind") {
    // Non-zero counters everywhere, so a metric is absent only because the kind never sets it.
    auto busy = [] {
        engine::side_result s;
        s.seconds = 2;
        s.totals.bytes_sent = s.totals.bytes_received = 1'000'000;
        s.totals.transactions = s.totals.connections = 1000;
        s.totals.datagrams_sent = s.totals.datagrams_received = 1000;
        s.totals.lost = 10;
        s.totals.total_retrans = 3;
        s.latency.record(50'000);
        s.send_lateness.record(3'000);
        s.cpu_total.user = 0.25;
        return s;
    };
    for (const auto& row : engine::traffic_table) {
        const auto values = derive_metrics(row.kind, busy(), busy());
        for (metric m : all_metrics()) {
            CAPTURE(row.name);
            CAPTURE(info(m).name);
            CHECK(measured_by(row.kind, m) == values[static_cast<std::size_t>(m)].has_value());
        }
    }
    CHECK(measured_metrics(engine::traffic::udp_stream) ==
          std::vector<metric>{metric::throughput_bps, metric::loss_ratio, metric::client_cpu_s,
                              metric::server_cpu_s, metric::client_service_demand,
                              metric::server_service_demand, metric::fairness, metric::send_lateness_p99});
}
