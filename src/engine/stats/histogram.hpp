#pragma once
/// A log-linear (HDR-style) latency histogram: ~1% relative error, fixed memory, O(1) record,
/// mergeable across flows, workers, hosts and repeats. Values are nanoseconds.
/// Percentiles are only ever taken from a (merged) histogram, never averaged.
///
/// Layout: 128 linear sub-buckets per power of two (values below 256 are exact), up to 2^40 ns
/// (~18 min); larger values land in the last bucket (max() stays exact). A bucket spans at most
/// 1/128 of its lower bound and percentile() reports its midpoint, so the error is <= 1/256 (0.4%).
/// Memory: bucket_count() x 8 bytes (~35 KiB), allocated once by reserve() and never again; an
/// empty histogram holds none, so 10k flow results with empty histograms cost nothing.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace kp::engine {

class histogram {
  public:
    /// An empty histogram without bucket memory (reserve() or the first record() allocates it).
    histogram();

    /// Allocates the fixed bucket memory now; call it when preparing a job so record() never does.
    void reserve();
    /// Records one value in nanoseconds. Never allocates after reserve() (else once, the first time).
    void record(std::uint64_t ns);
    /// Adds every count of `other` to this histogram.
    void merge(const histogram& other);
    /// Empties the histogram, keeping its memory (e.g. at the end of the warm-up).
    void reset() noexcept;

    [[nodiscard]] std::uint64_t count() const noexcept;
    [[nodiscard]] std::uint64_t min() const noexcept; ///< 0 when empty
    [[nodiscard]] std::uint64_t max() const noexcept; ///< 0 when empty
    [[nodiscard]] double mean() const noexcept;       ///< 0 when empty
    /// The value at percentile p (0 < p <= 100), within the bucket's relative error; 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double p) const noexcept;

    /// Sparse form for serialization: (bucket index, count) for every non-empty bucket.
    [[nodiscard]] std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets() const;
    /// Rebuilds a histogram from buckets(); min/max/sum are carried separately.
    /// Indices >= bucket_count() are a bug of the caller (engine/wire/codec.hpp checks them first).
    static histogram from_buckets(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets,
                                  std::uint64_t min, std::uint64_t max, double sum);
    [[nodiscard]] double sum() const noexcept;

    /// Bytes of bucket memory held: 0 until reserved, then bucket_count() * 8.
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
        return counts_.capacity() * sizeof(std::uint64_t);
    }

    /// Number of buckets; valid indices are 0 .. bucket_count()-1.
    static constexpr std::uint32_t bucket_count() noexcept { return (max_shift + 2) * sub_buckets; }
    /// The bucket a value falls in.
    static std::uint32_t index_of(std::uint64_t ns) noexcept;
    /// The smallest and largest value of bucket `index`.
    static std::uint64_t bucket_low(std::uint32_t index) noexcept;
    static std::uint64_t bucket_high(std::uint32_t index) noexcept;

    static constexpr unsigned sub_bucket_bits = 7;
    static constexpr std::uint32_t sub_buckets = 1u << sub_bucket_bits; // 128
    static constexpr unsigned max_shift = 40 - sub_bucket_bits;         // top bucket starts near 2^40 ns

    /// Equal counts, min, max and sum (bucket memory reserved or not does not matter).
    friend bool operator==(const histogram& a, const histogram& b) noexcept;

  private:
    std::vector<std::uint64_t> counts_; // empty, or bucket_count() long once reserved
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    double sum_ = 0;
};

} // namespace kp::engine
