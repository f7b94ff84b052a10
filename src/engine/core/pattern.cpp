#include "engine/core/pattern.hpp"

#include <cstring>

namespace kp::engine {

pattern::pattern(std::size_t max_chunk) : buf_(max_chunk + pattern_period) {
    // An affine sequence mod 251 rather than i % 251, so that runs of equal or consecutive
    // bytes from a mis-framed reader do not happen to match.
    for (std::size_t i = 0; i < buf_.size(); ++i)
        buf_[i] = static_cast<std::byte>((i % pattern_period) * 97 % pattern_period);
}

bool pattern::check(std::uint64_t offset, std::span<const std::byte> data) const noexcept {
    // Long reads are checked in slices no longer than the buffer.
    std::size_t done = 0;
    const std::size_t chunk = max_chunk();
    while (done < data.size()) {
        std::size_t n = std::min(chunk, data.size() - done);
        if (std::memcmp(data.data() + done, at(offset + done, n).data(), n) != 0) return false;
        done += n;
    }
    return true;
}

} // namespace kp::engine
