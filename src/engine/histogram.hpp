#pragma once
/// A log-linear (HDR-style) latency histogram: ~1% relative error, fixed memory, O(1) record,
/// mergeable across flows, workers, hosts and repeats. Values are nanoseconds.
/// Percentiles are only ever taken from a (merged) histogram, never averaged.
#include <cstdint>
#include <utility>
#include <vector>

namespace kp::engine {

class histogram {
public:
    histogram();

    /// Records one value in nanoseconds. Never allocates.
    void record(std::uint64_t ns) noexcept;
    /// Adds every count of `other` to this histogram.
    void merge(const histogram& other);

    [[nodiscard]] std::uint64_t count() const noexcept;
    [[nodiscard]] std::uint64_t min() const noexcept;  ///< 0 when empty
    [[nodiscard]] std::uint64_t max() const noexcept;  ///< 0 when empty
    [[nodiscard]] double mean() const noexcept;        ///< 0 when empty
    /// The value at percentile p (0 < p <= 100), within the bucket's relative error; 0 when empty.
    [[nodiscard]] std::uint64_t percentile(double p) const noexcept;

    /// Sparse form for serialization: (bucket index, count) for every non-empty bucket.
    [[nodiscard]] std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets() const;
    /// Rebuilds a histogram from buckets(); min/max/sum are carried separately.
    static histogram from_buckets(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets,
                                  std::uint64_t min, std::uint64_t max, double sum);
    [[nodiscard]] double sum() const noexcept;

private:
    std::vector<std::uint64_t> counts_; // sized once at construction
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    double sum_ = 0;
};

} // namespace kp::engine
