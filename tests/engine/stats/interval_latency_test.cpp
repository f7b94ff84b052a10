#include <doctest/doctest.h>

#include <random>

#include "engine/stats/interval_latency.hpp"

using kp::engine::histogram;
using kp::engine::interval_latency;

TEST_CASE("interval_latency: percentiles per interval, within 1/32 of the full histogram's") {
    interval_latency a, b;
    a.reserve(3);
    b.reserve(2);
    histogram whole0;
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> d(10.0, 1.0); // ~22 us median, long tail
    for (int k = 0; k < 20000; ++k) {
        auto v = static_cast<std::uint64_t>(d(rng));
        (k % 2 ? a : b).record(0, v); // interval 0 split over two "workers"
        whole0.record(v);
    }
    a.record(2, 5'000'000); // interval 2: one 5 ms latency; interval 1 stays empty
    a.record(9, 1);         // past the reserved intervals: ignored, no write out of bounds
    a.merge(b);
    REQUIRE(a.intervals() == 3);
    CHECK(a.count(0) == 20000);
    CHECK(a.count(1) == 0);
    CHECK(a.count(2) == 1);
    for (double p : {50.0, 99.0}) {
        CAPTURE(p);
        const double want = static_cast<double>(whole0.percentile(p)) / 1e3;
        REQUIRE(a.percentile_us(0, p));
        CHECK(*a.percentile_us(0, p) == doctest::Approx(want).epsilon(1.0 / 32 + 1.0 / 256));
    }
    CHECK(!a.percentile_us(1, 50));
    REQUIRE(a.percentile_us(2, 99));
    CHECK(*a.percentile_us(2, 99) == doctest::Approx(5000).epsilon(1.0 / 32));
    CHECK(!a.percentile_us(7, 50)); // beyond the intervals
}

TEST_CASE("interval_latency: small values are exact to their 8 ns group") {
    interval_latency s;
    s.reserve(1);
    for (int k = 0; k < 10; ++k)
        s.record(0, 3);
    s.record(0, 250);
    REQUIRE(s.percentile_us(0, 50));
    CHECK(*s.percentile_us(0, 50) == doctest::Approx(0.003));  // group 0..7, midpoint 3
    CHECK(*s.percentile_us(0, 100) == doctest::Approx(0.251)); // group 248..255
}
