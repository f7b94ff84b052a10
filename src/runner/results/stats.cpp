#include "runner/results/stats.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace kp::runner {

double summary_stats::relative_ci_width() const {
    if (n < 2 || mean == 0) return 0;
    return (ci_high - ci_low) / std::abs(mean);
}

double student_t_975(std::size_t df) {
    // Two-sided 95% critical values; beyond 30 degrees of freedom, a few anchors suffice
    // (the repeat counts we see are small, and the error above 30 is below 1%).
    static constexpr std::array<double, 30> table = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                                     2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                                     2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                                     2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    if (df == 0) return 0;
    if (df <= table.size()) return table[df - 1];
    if (df <= 40) return 2.021;
    if (df <= 60) return 2.000;
    if (df <= 120) return 1.980;
    return 1.960;
}

double student_t_995(std::size_t df) {
    static constexpr std::array<double, 30> table = {63.657, 9.925, 5.841, 4.604, 4.032, 3.707, 3.499, 3.355,
                                                     3.250,  3.169, 3.106, 3.055, 3.012, 2.977, 2.947, 2.921,
                                                     2.898,  2.878, 2.861, 2.845, 2.831, 2.819, 2.807, 2.797,
                                                     2.787,  2.779, 2.771, 2.763, 2.756, 2.750};
    if (df == 0) return 0;
    if (df <= table.size()) return table[df - 1];
    if (df <= 40) return 2.704;
    if (df <= 60) return 2.660;
    if (df <= 120) return 2.617;
    return 2.576;
}

summary_stats summarize_log(std::span<const double> values) {
    summary_stats s = summarize(values);
    if (s.n < 2 || s.min <= 0) return s;
    std::vector<double> logs;
    for (double v : values)
        logs.push_back(std::log(v));
    summary_stats l = summarize(logs);
    double half = student_t_975(l.n - 1) * l.stddev / std::sqrt(static_cast<double>(l.n));
    s.ci_low = std::exp(l.mean - half);
    s.ci_high = std::exp(l.mean + half);
    return s;
}

summary_stats summarize(std::span<const double> values) {
    summary_stats s;
    s.n = values.size();
    if (s.n == 0) return s;
    std::vector<double> sorted(values.begin(), values.end());
    std::sort(sorted.begin(), sorted.end());
    s.min = sorted.front();
    s.max = sorted.back();
    std::size_t mid = s.n / 2;
    s.median = s.n % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    double sum = 0;
    for (double v : sorted)
        sum += v;
    s.mean = sum / static_cast<double>(s.n);
    s.ci_low = s.ci_high = s.mean;
    if (s.n < 2) return s;
    double sq = 0;
    for (double v : sorted)
        sq += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(s.n - 1));
    double half = student_t_975(s.n - 1) * s.stddev / std::sqrt(static_cast<double>(s.n));
    s.ci_low = std::max(0.0, s.mean - half);
    s.ci_high = s.mean + half;
    return s;
}

bool needs_another_repeat(const until_rule& rule, std::span<const double> values) {
    std::size_t min_repeat = std::max<std::size_t>(rule.min_repeat, 2);
    std::size_t max_repeat = std::max(rule.max_repeat, min_repeat);
    if (values.size() >= max_repeat) return false;
    if (values.size() < min_repeat) return true;
    return summarize(values).relative_ci_width() > rule.ci_width;
}

} // namespace kp::runner
