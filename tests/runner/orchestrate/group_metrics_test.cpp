// The figures of a group repeat from its members' repeats: sums, fairness, merged latency.
#include <doctest/doctest.h>

#include "runner/orchestrate/group.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;

namespace {
instance group_of(std::string_view members) {
    std::string text = std::string(R"(version: 1
hosts:
  a: {ssh: root@198.18.0.1}
  b: {ssh: root@198.18.0.2}
scenarios:
  - name: g
    client: a
    server: b
    group:
)") + std::string(members);
    auto p = load_plan("g.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    auto in = expand(*p);
    REQUIRE(in.size() == 1);
    return in[0];
}
repeat_record with(metric_values v) {
    repeat_record r;
    r.metrics = v;
    return r;
}
void put(metric_values& v, metric m, double x) {
    v[static_cast<std::size_t>(m)] = x;
}
double get(const metric_values& v, metric m) {
    REQUIRE(v[static_cast<std::size_t>(m)].has_value());
    return *v[static_cast<std::size_t>(m)];
}
} // namespace

TEST_CASE("group metrics: Jain's index is 1 for equal shares and 1/n when one member takes all") {
    CHECK(jain_index({5, 5, 5}) == doctest::Approx(1));
    CHECK(jain_index({9, 0, 0}) == doctest::Approx(1.0 / 3));
    CHECK(jain_index({3, 1}) == doctest::Approx(16.0 / 20));
    CHECK(jain_index({}) == 1);
    CHECK(jain_index({0, 0}) == 1);
}

TEST_CASE("group metrics: goodput adds up, fairness is over the streams, latency merges over one kind") {
    instance g = group_of(R"(      - {name: s1, traffic: tcp_stream}
      - {name: s2, traffic: tcp_stream}
      - {name: p1, traffic: tcp_rr}
      - {name: p2, traffic: tcp_rr}
)");
    metric_values a{}, b{}, c{}, d{};
    put(a, metric::throughput_bps, 300e6);
    put(b, metric::throughput_bps, 100e6);
    put(c, metric::throughput_bps, 1e6);
    put(c, metric::transactions_per_s, 1000);
    put(d, metric::throughput_bps, 1e6);
    put(d, metric::transactions_per_s, 3000);
    std::vector<repeat_record> reps{with(a), with(b), with(c), with(d)};
    for (int i = 0; i < 100; ++i)
        reps[2].client.latency.record(10'000); // 10 us
    for (int i = 0; i < 100; ++i)
        reps[3].client.latency.record(1'000'000); // 1 ms
    std::vector<const repeat_record*> ptrs;
    for (const auto& r : reps)
        ptrs.push_back(&r);
    kp::engine::histogram merged;
    auto v = group_metrics(g, ptrs, merged);
    CHECK(get(v, metric::throughput_bps) == doctest::Approx(402e6));
    CHECK(get(v, metric::transactions_per_s) == doctest::Approx(4000));
    CHECK(get(v, metric::fairness) == doctest::Approx(jain_index({300e6, 100e6}))); // streams only
    CHECK(merged.count() == 200);
    // The merged histogram's median lies between the two members' (never an average of percentiles).
    CHECK(get(v, metric::latency_p99) == doctest::Approx(1000).epsilon(0.02));
    CHECK(get(v, metric::latency_min) == doctest::Approx(10).epsilon(0.02));
    CHECK_FALSE(v[static_cast<std::size_t>(metric::client_cpu_s)].has_value());
}

TEST_CASE(
    "group metrics: latency members of two kinds do not merge; without streams fairness is over headlines") {
    instance g = group_of(R"(      - {name: t, traffic: tcp_rr}
      - {name: u, traffic: udp_rr}
)");
    metric_values a{}, b{};
    put(a, metric::transactions_per_s, 100);
    put(b, metric::transactions_per_s, 300);
    std::vector<repeat_record> reps{with(a), with(b)};
    reps[0].client.latency.record(5000);
    reps[1].client.latency.record(5000);
    kp::engine::histogram merged;
    auto v = group_metrics(g, {&reps[0], &reps[1]}, merged);
    CHECK_FALSE(v[static_cast<std::size_t>(metric::latency_p99)].has_value());
    CHECK(merged.count() == 0);
    CHECK(get(v, metric::fairness) == doctest::Approx(jain_index({100, 300})));
}
