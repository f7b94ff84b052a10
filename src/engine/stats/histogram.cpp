#include "engine/stats/histogram.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kp::engine {

histogram::histogram() = default;

void histogram::reserve() {
    if (counts_.empty()) counts_.assign(bucket_count(), 0);
}

// Bucket of v: values below 2 * sub_buckets are exact (shift 0); above, the shift is how far v's
// top bit lies beyond sub_bucket_bits, and the bucket keeps v's top sub_bucket_bits + 1 bits.
std::uint32_t histogram::index_of(std::uint64_t ns) noexcept {
    const unsigned top = 63u - static_cast<unsigned>(__builtin_clzll(ns | 1u)); // floor(log2), 0 for 0
    const unsigned shift = top > sub_bucket_bits ? top - sub_bucket_bits : 0u;
    if (shift > max_shift) return bucket_count() - 1;
    return static_cast<std::uint32_t>(shift * sub_buckets + (ns >> shift));
}

std::uint64_t histogram::bucket_low(std::uint32_t index) noexcept {
    if (index < 2 * sub_buckets) return index;
    const std::uint32_t shift = index / sub_buckets - 1;
    const std::uint64_t sub = index - shift * sub_buckets; // in [sub_buckets, 2 * sub_buckets)
    return sub << shift;
}

std::uint64_t histogram::bucket_high(std::uint32_t index) noexcept {
    if (index < 2 * sub_buckets) return index;
    const std::uint32_t shift = index / sub_buckets - 1;
    return bucket_low(index) + ((std::uint64_t{1} << shift) - 1);
}

void histogram::record(std::uint64_t ns) {
    if (counts_.empty()) [[unlikely]]
        reserve();
    ++counts_[index_of(ns)];
    if (count_ == 0 || ns < min_) min_ = ns;
    if (ns > max_) max_ = ns;
    ++count_;
    sum_ += static_cast<double>(ns);
}

void histogram::merge(const histogram& other) {
    if (other.count_ == 0) return;
    reserve();
    for (std::size_t i = 0; i < counts_.size(); ++i)
        counts_[i] += other.counts_[i];
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    count_ += other.count_;
    sum_ += other.sum_;
}

void histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = min_ = max_ = 0;
    sum_ = 0;
}

std::uint64_t histogram::count() const noexcept {
    return count_;
}
std::uint64_t histogram::min() const noexcept {
    return min_;
}
std::uint64_t histogram::max() const noexcept {
    return max_;
}
double histogram::sum() const noexcept {
    return sum_;
}
double histogram::mean() const noexcept {
    return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_);
}

// The value of rank ceil(p% of count) (nearest-rank definition), reported as its bucket's
// midpoint and clamped to [min, max], so p100 is the exact max and tiny p the exact min.
std::uint64_t histogram::percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    if (!(p > 0)) return min_;
    if (p >= 100) return max_;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::uint32_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            const std::uint64_t low = bucket_low(i), high = bucket_high(i);
            return std::clamp(low + (high - low) / 2, min_, max_);
        }
    }
    return max_;
}

std::vector<std::pair<std::uint32_t, std::uint64_t>> histogram::buckets() const {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> out;
    for (std::uint32_t i = 0; i < counts_.size(); ++i)
        if (counts_[i] != 0) out.emplace_back(i, counts_[i]);
    return out;
}

histogram histogram::from_buckets(const std::vector<std::pair<std::uint32_t, std::uint64_t>>& buckets,
                                  std::uint64_t min, std::uint64_t max, double sum) {
    histogram h;
    if (!buckets.empty()) h.reserve();
    for (const auto& [index, n] : buckets) {
        if (index >= h.counts_.size()) continue; // a caller bug: codec.cpp rejects these first
        h.counts_[index] += n;
        h.count_ += n;
    }
    if (h.count_ != 0) {
        h.min_ = min;
        h.max_ = max;
        h.sum_ = sum;
    }
    return h;
}

bool operator==(const histogram& a, const histogram& b) noexcept {
    if (a.count_ != b.count_ || a.min_ != b.min_ || a.max_ != b.max_ || a.sum_ != b.sum_) return false;
    if (a.counts_.empty() || b.counts_.empty()) return a.count_ == 0; // an empty one has no counts anywhere
    return a.counts_ == b.counts_;
}

} // namespace kp::engine
