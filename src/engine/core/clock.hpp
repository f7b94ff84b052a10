#pragma once
/// Clocks of the engine as plain nanosecond integers: CLOCK_MONOTONIC for timing (the same clock
/// as std::chrono::steady_clock on Linux), CLOCK_REALTIME for the window stamps in results.
#include <chrono>
#include <cstdint>
#include <ctime>

namespace kp::engine {

/// Monotonic time in ns (vDSO, no syscall).
inline std::int64_t mono_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// Wall-clock time in ns since the epoch.
inline std::int64_t real_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// A steady_clock time point as monotonic ns.
inline std::int64_t to_mono_ns(std::chrono::steady_clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

/// Milliseconds left until `deadline_ns` (monotonic), at least 0, for poll().
inline int ms_until(std::int64_t deadline_ns) noexcept {
    std::int64_t left = deadline_ns - mono_ns();
    if (left <= 0) return 0;
    return static_cast<int>((left + 999'999) / 1'000'000);
}

} // namespace kp::engine
