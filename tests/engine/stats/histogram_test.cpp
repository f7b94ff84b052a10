#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/stats/histogram.hpp"

using kp::engine::histogram;

namespace {

// Exact nearest-rank percentile of a sorted sample, the definition histogram::percentile follows.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

double rel_error(std::uint64_t got, std::uint64_t want) {
    if (want == 0) return got == 0 ? 0.0 : 1.0;
    return std::abs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want);
}

} // namespace

TEST_CASE("histogram: every value maps to a bucket that contains it, within 1/256") {
    std::vector<std::uint64_t> values;
    for (std::uint64_t v = 0; v < 5000; ++v)
        values.push_back(v);
    for (unsigned bit = 8; bit < 41; ++bit) {
        const std::uint64_t p = std::uint64_t{1} << bit;
        for (std::uint64_t d : {p - 1, p, p + 1, p + p / 3, p + p / 2, 2 * p - 1})
            values.push_back(d);
    }
    std::mt19937_64 rng(42);
    for (int i = 0; i < 200000; ++i)
        values.push_back(rng() >> (24 + rng() % 40)); // spread over magnitudes
    for (std::uint64_t v : values) {
        if (v >= (std::uint64_t{1} << 40)) continue;
        const auto i = histogram::index_of(v);
        REQUIRE(i < histogram::bucket_count());
        const auto lo = histogram::bucket_low(i), hi = histogram::bucket_high(i);
        REQUIRE(lo <= v);
        REQUIRE(v <= hi);
        const std::uint64_t mid = lo + (hi - lo) / 2;
        REQUIRE(rel_error(mid, v) <= 1.0 / 256 + 1e-12);
    }
    // Buckets tile the range with no gaps: each starts right after the previous one ends.
    for (std::uint32_t i = 1; i < histogram::bucket_count(); ++i)
        REQUIRE(histogram::bucket_low(i) == histogram::bucket_high(i - 1) + 1);
}

TEST_CASE("histogram: values beyond the range land in the last bucket, max stays exact") {
    histogram h;
    h.record(~std::uint64_t{0});
    h.record(std::uint64_t{1} << 50);
    CHECK(h.count() == 2);
    CHECK(h.buckets().size() == 1);
    CHECK(h.buckets()[0].first == histogram::bucket_count() - 1);
    CHECK(h.max() == ~std::uint64_t{0});
    CHECK(h.min() == std::uint64_t{1} << 50);
    CHECK(h.percentile(100) == ~std::uint64_t{0});
}

TEST_CASE("histogram: percentiles within 0.4% of the exact ones, min/max/mean exact") {
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> dist(std::log(50'000.0), 1.5); // ~50 us, long tail
    histogram h;
    std::vector<std::uint64_t> all;
    double sum = 0;
    for (int i = 0; i < 100000; ++i) {
        const auto v = static_cast<std::uint64_t>(dist(rng)) + 1;
        h.record(v);
        all.push_back(v);
        sum += static_cast<double>(v);
    }
    std::ranges::sort(all);
    CHECK(h.count() == all.size());
    CHECK(h.min() == all.front());
    CHECK(h.max() == all.back());
    CHECK(h.mean() == doctest::Approx(sum / static_cast<double>(all.size())).epsilon(1e-9));
    for (double p : {0.001, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
        CAPTURE(p);
        CHECK(rel_error(h.percentile(p), exact_percentile(all, p)) <= 1.0 / 256 + 1e-12);
    }
}

TEST_CASE("histogram: small values are exact") {
    histogram h;
    for (std::uint64_t v = 1; v <= 255; ++v)
        h.record(v);
    CHECK(h.percentile(50) == 128);
    CHECK(h.percentile(100) == 255);
    CHECK(h.percentile(1) == 3);
}

TEST_CASE("histogram: empty histogram reads as zeros") {
    histogram h;
    CHECK(h.count() == 0);
    CHECK(h.min() == 0);
    CHECK(h.max() == 0);
    CHECK(h.mean() == 0);
    CHECK(h.percentile(99) == 0);
    CHECK(h.buckets().empty());
}

TEST_CASE("histogram: merge equals recording everything into one") {
    std::mt19937_64 rng(11);
    histogram parts[4], whole;
    for (int i = 0; i < 40000; ++i) {
        const std::uint64_t v = 1000 + rng() % (i % 4 == 3 ? 100'000'000 : 200'000); // parts differ
        parts[i % 4].record(v);
        whole.record(v);
    }
    histogram merged;
    for (const auto& p : parts)
        merged.merge(p);
    CHECK(merged.count() == whole.count());
    CHECK(merged.min() == whole.min());
    CHECK(merged.max() == whole.max());
    CHECK(merged.buckets() == whole.buckets());
    for (double p : {50.0, 90.0, 99.0, 99.9, 99.99})
        CHECK(merged.percentile(p) == whole.percentile(p));
    CHECK(merged.sum() == doctest::Approx(whole.sum()).epsilon(1e-12));

    // Merging an empty histogram changes nothing; merging into an empty one copies.
    histogram empty;
    merged.merge(empty);
    CHECK(merged.count() == whole.count());
    empty.merge(parts[0]);
    CHECK(empty == parts[0]);
}

TEST_CASE("histogram: percentiles are never averaged - a merged p99 differs from the mean of p99s") {
    histogram fast, slow, merged;
    for (int i = 0; i < 1000; ++i)
        fast.record(10'000);
    for (int i = 0; i < 1000; ++i)
        slow.record(i < 980 ? 10'000 : 1'000'000);
    merged.merge(fast);
    merged.merge(slow);
    // 20 of 2000 values are slow: p99 of the merge is the boundary, p99.5 is slow.
    CHECK(rel_error(merged.percentile(99), 10'000) <= 1.0 / 256);
    CHECK(rel_error(merged.percentile(99.5), 1'000'000) <= 1.0 / 256);
    const double averaged =
        (static_cast<double>(fast.percentile(99.5)) + static_cast<double>(slow.percentile(99.5))) / 2;
    CHECK(std::abs(averaged - static_cast<double>(merged.percentile(99.5))) > 100'000);
}

TEST_CASE("histogram: buckets() and from_buckets() round-trip; reset empties") {
    histogram h;
    for (std::uint64_t v : {5u, 300u, 70'000u, 70'001u, 9'000'000u})
        h.record(v);
    const auto back = histogram::from_buckets(h.buckets(), h.min(), h.max(), h.sum());
    CHECK(back == h);
    h.reset();
    CHECK(h == histogram{});
}

TEST_CASE("histogram: empty ones hold no bucket memory; reserve() sizes it once") {
    histogram h;
    CHECK(h.memory_bytes() == 0);
    CHECK(h == histogram{});
    h.reserve();
    const std::size_t full = histogram::bucket_count() * sizeof(std::uint64_t);
    CHECK(h.memory_bytes() == full);
    CHECK(h == histogram{}); // reserved and empty equals unreserved and empty
    for (std::uint64_t v = 1; v < (std::uint64_t{1} << 42); v *= 3)
        h.record(v);
    CHECK(h.memory_bytes() == full); // recording never grows it
    histogram copy = h, lazy;
    CHECK(copy == h);
    lazy.record(7); // the first record reserves when nobody did
    CHECK(lazy.memory_bytes() == full);
    CHECK(lazy.percentile(50) == 7);
    histogram merged;
    merged.merge(histogram{}); // merging nothing allocates nothing
    CHECK(merged.memory_bytes() == 0);
}
