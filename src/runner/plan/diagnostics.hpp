#pragma once
/// Located plan diagnostics, built in one place: `file:line:col: message`, the source line, a caret.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kp::runner {

/// A position in a plan file, 1-based; line 0 means "the whole file".
struct source_loc {
    int line = 0;
    int col = 0;
    friend bool operator==(const source_loc&, const source_loc&) = default;
};

/// One error with its position.
struct diagnostic {
    source_loc loc;
    std::string message;
    friend bool operator==(const diagnostic&, const diagnostic&) = default;
};

/// Collects every error of a plan, up to a cap, so one run of `validate` shows them all.
class diagnostics {
  public:
    static constexpr std::size_t default_cap = 20;
    explicit diagnostics(std::size_t cap = default_cap) : cap_(cap) {}

    /// Records an error; an exact duplicate (same place, same text) is dropped.
    void error(source_loc loc, std::string message);
    /// True once at least one error was recorded.
    [[nodiscard]] bool any() const { return !list_.empty() || dropped_ > 0; }
    /// The recorded errors, sorted by position.
    [[nodiscard]] std::vector<diagnostic> sorted() const;
    /// How many errors were past the cap and not kept.
    [[nodiscard]] std::size_t dropped() const { return dropped_; }
    [[nodiscard]] std::size_t cap() const { return cap_; }

  private:
    std::size_t cap_;
    std::size_t dropped_ = 0;
    std::vector<diagnostic> list_;
};

/// `file:line:col: message`, then the source line and a caret line under the column.
[[nodiscard]] std::string format_diagnostic(std::string_view file, std::string_view text,
                                            const diagnostic& d);
/// All of `ds` formatted, plus a "too many errors" line when `dropped` > 0.
[[nodiscard]] std::string format_diagnostics(std::string_view file, std::string_view text,
                                             std::span<const diagnostic> ds, std::size_t dropped = 0);

/// Levenshtein distance between two words.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);
/// The closest candidate within edit distance 3 (or one that `word` is a prefix of), or "".
[[nodiscard]] std::string_view closest(std::string_view word, std::span<const std::string_view> candidates);
/// ", did you mean 'x'?" when a candidate is close, else "".
[[nodiscard]] std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates);

} // namespace kp::runner
