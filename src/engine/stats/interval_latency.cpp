#include "engine/stats/interval_latency.hpp"

#include <algorithm>
#include <cmath>

namespace kp::engine {

void interval_latency::reserve(std::size_t intervals) {
    counts_.assign(intervals * coarse_buckets, 0);
    intervals_ = intervals;
}

void interval_latency::merge(const interval_latency& other) {
    if (other.intervals_ > intervals_) {
        counts_.resize(other.intervals_ * coarse_buckets, 0);
        intervals_ = other.intervals_;
    }
    for (std::size_t k = 0; k < other.counts_.size(); ++k)
        counts_[k] += other.counts_[k];
}

std::uint64_t interval_latency::count(std::size_t i) const noexcept {
    if (i >= intervals_) return 0;
    std::uint64_t n = 0;
    for (std::uint32_t b = 0; b < coarse_buckets; ++b)
        n += counts_[i * coarse_buckets + b];
    return n;
}

std::optional<double> interval_latency::percentile_us(std::size_t i, double p) const noexcept {
    const std::uint64_t n = count(i);
    if (n == 0) return std::nullopt;
    const auto rank = std::clamp<std::uint64_t>(
        static_cast<std::uint64_t>(std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(n))), 1,
        n);
    std::uint64_t seen = 0;
    for (std::uint32_t b = 0; b < coarse_buckets; ++b) {
        seen += counts_[i * coarse_buckets + b];
        if (seen >= rank) {
            const std::uint64_t low = histogram::bucket_low(b << group_bits);
            const std::uint64_t high = histogram::bucket_high(((b + 1) << group_bits) - 1);
            return static_cast<double>(low + (high - low) / 2) / 1e3;
        }
    }
    return std::nullopt; // not reached: the counts sum to n
}

void interval_latency::merge_interval(const interval_latency& other, std::size_t from,
                                      std::size_t to) noexcept {
    if (from >= other.intervals_ || to >= intervals_) return;
    for (std::uint32_t b = 0; b < coarse_buckets; ++b)
        counts_[to * coarse_buckets + b] += other.counts_[from * coarse_buckets + b];
}

} // namespace kp::engine
