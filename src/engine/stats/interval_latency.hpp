#pragma once
/// Latency counts per second of the window, at a coarse resolution, so a side can report p50 and
/// p99 per interval merged over its workers (the per-second `samples`).
///
/// Each worker owns one: record() is one increment into memory reserved before the run (no
/// allocation, no lock); the session merges the workers' after they are joined. A coarse bucket is
/// 8 consecutive buckets of engine::histogram (never straddling a power of two), so it spans at
/// most 1/16 of its lower bound and its midpoint is within 1/32 (~3%) of any value in it. The
/// instance's own percentiles still come from the full histograms.
/// Memory: coarse_buckets x 4 bytes (~2.2 KiB) per second of the window.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/stats/histogram.hpp"

namespace kp::engine {

class interval_latency {
  public:
    static constexpr unsigned group_bits = 3;
    static constexpr std::uint32_t coarse_buckets = histogram::bucket_count() >> group_bits;
    static_assert(histogram::sub_buckets % (1u << group_bits) == 0, "a group within one power of two");

    /// Allocates the counts for `intervals` seconds (zeroed); record() never allocates.
    void reserve(std::size_t intervals);
    /// Counts one latency in interval `i`; ignored past the reserved intervals.
    void record(std::size_t i, std::uint64_t ns) noexcept {
        if (i < intervals_) ++counts_[i * coarse_buckets + (histogram::index_of(ns) >> group_bits)];
    }
    /// Adds `other`'s counts, interval by interval (grows to the longer of the two).
    void merge(const interval_latency& other);
    /// Adds `other`'s interval `from` into this one's interval `to` (reserved here). For a reader
    /// of closed intervals while their owner records into later ones.
    void merge_interval(const interval_latency& other, std::size_t from, std::size_t to) noexcept;

    [[nodiscard]] std::size_t intervals() const noexcept { return intervals_; }
    [[nodiscard]] std::uint64_t count(std::size_t i) const noexcept;
    /// The nearest-rank percentile p (0 < p <= 100) of interval `i` in microseconds, as its coarse
    /// bucket's midpoint; nullopt when the interval holds no latency.
    [[nodiscard]] std::optional<double> percentile_us(std::size_t i, double p) const noexcept;

  private:
    std::vector<std::uint32_t> counts_; ///< intervals_ x coarse_buckets
    std::size_t intervals_ = 0;
};

} // namespace kp::engine
