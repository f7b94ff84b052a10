#pragma once
/// Statistics over the repeats of one instance: median, min, max, mean and a 95% confidence
/// interval of the mean (Student t, since repeats are few), plus the `until` stopping rule.
#include <cstddef>
#include <span>

#include "runner/plan/until.hpp"

namespace kp::runner {

/// The figures of one metric over n repeats.
struct summary_stats {
    std::size_t n = 0;
    double mean = 0, median = 0, min = 0, max = 0;
    double stddev = 0;              ///< sample standard deviation (n-1); 0 when n < 2
    double ci_low = 0, ci_high = 0; ///< 95% CI of the mean; equal to the mean when n < 2
    [[nodiscard]] bool has_ci() const { return n >= 2; }
    /// (ci_high - ci_low) / |mean|; 0 when the mean is 0 or n < 2.
    [[nodiscard]] double relative_ci_width() const;
};

/// The two-sided 97.5% quantile of Student's t with `df` degrees of freedom (df >= 1).
[[nodiscard]] double student_t_975(std::size_t df);

/// The two-sided 99.5% quantile of Student's t (a 99% two-sided interval), df >= 1.
[[nodiscard]] double student_t_995(std::size_t df);

/// Summarizes `values` (any order). An empty span gives n = 0 and zeros. The CI never goes
/// below zero: every metric is a count, a rate or a duration.
[[nodiscard]] summary_stats summarize(std::span<const double> values);

/// summarize(), but the CI is taken on the log scale and mapped back: for heavy-tailed,
/// positive figures such as latency percentiles, whose spread grows with their size. A plain
/// Student t on 5 p99s gave [-168, 555] us, an interval that can never flag a change. Falls
/// back to summarize()'s CI when a value is not positive.
[[nodiscard]] summary_stats summarize_log(std::span<const double> values);

/// True when another repeat is needed after the `values` measured so far.
[[nodiscard]] bool needs_another_repeat(const until_rule& rule, std::span<const double> values);

} // namespace kp::runner
