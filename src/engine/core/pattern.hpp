#pragma once
/// The deterministic payload: byte i of a stream is pattern_byte(i), a sequence with a prime
/// period (251), so that no write or read size lines up with it and a shifted or dropped chunk
/// is caught. A sender takes a slice at its stream offset; a receiver with `verify` compares.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace kp::engine {

/// The period of the payload pattern, in bytes.
inline constexpr std::size_t pattern_period = 251;

/// A pre-filled buffer from which any slice of the pattern up to `max_chunk` bytes is a view.
class pattern {
  public:
    explicit pattern(std::size_t max_chunk);
    /// The `len` pattern bytes starting at stream offset `offset` (len <= max_chunk).
    [[nodiscard]] std::span<const std::byte> at(std::uint64_t offset, std::size_t len) const noexcept {
        return {buf_.data() + offset % pattern_period, len};
    }
    /// True when `data` equals the pattern at stream offset `offset`.
    [[nodiscard]] bool check(std::uint64_t offset, std::span<const std::byte> data) const noexcept;
    [[nodiscard]] std::size_t max_chunk() const noexcept { return buf_.size() - pattern_period; }

  private:
    std::vector<std::byte> buf_;
};

} // namespace kp::engine
