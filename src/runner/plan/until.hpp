#pragma once
/// `until:` as a plan states it; results/stats.hpp decides whether another repeat is needed.
#include <cstddef>

namespace kp::runner {

/// The `until: {ci_width, max_repeat}` rule: keep repeating while the relative CI width of the
/// headline metric exceeds `ci_width`, at least `min_repeat` (>= 2) times, at most `max_repeat`.
struct until_rule {
    double ci_width = 0; ///< relative, e.g. 0.02 for 2%
    std::size_t min_repeat = 2;
    std::size_t max_repeat = 20;
};

} // namespace kp::runner
