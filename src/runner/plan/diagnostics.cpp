#include "runner/plan/diagnostics.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "runner/plan/text.hpp"

namespace kp::runner {

void diagnostics::error(source_loc loc, std::string message) {
    diagnostic d{loc, std::move(message)};
    if (std::find(list_.begin(), list_.end(), d) != list_.end()) return;
    if (list_.size() >= cap_) {
        ++dropped_;
        return;
    }
    list_.push_back(std::move(d));
}

std::vector<diagnostic> diagnostics::sorted() const {
    auto out = list_;
    std::stable_sort(out.begin(), out.end(), [](const diagnostic& a, const diagnostic& b) {
        return a.loc.line != b.loc.line ? a.loc.line < b.loc.line : a.loc.col < b.loc.col;
    });
    return out;
}

namespace {

/// The text of 1-based line `n`, without its newline; empty when out of range.
std::string_view line_of(std::string_view text, int n) {
    std::size_t start = 0;
    for (int i = 1; i < n; ++i) {
        auto nl = text.find('\n', start);
        if (nl == std::string_view::npos) return {};
        start = nl + 1;
    }
    auto end = text.find('\n', start);
    auto line = text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

} // namespace

std::string format_diagnostic(std::string_view file, std::string_view text, const diagnostic& d) {
    if (d.loc.line <= 0) return fmt::format("{}: {}\n", file, d.message);
    std::string out = fmt::format("{}:{}:{}: {}\n", file, d.loc.line, d.loc.col, d.message);
    auto line = line_of(text, d.loc.line);
    // Long lines (minified or garbage input) are not worth echoing in full, and a line holding
    // a NUL, an escape or invalid UTF-8 must not reach the terminal.
    if (line.empty() || line.size() > 200 || !is_echo_safe(line)) return out;
    out += fmt::format("{}\n", line);
    // Keep tabs so the caret lines up under the same column in a terminal.
    std::string caret;
    for (int i = 0; i + 1 < d.loc.col && static_cast<std::size_t>(i) < line.size(); ++i)
        caret += line[static_cast<std::size_t>(i)] == '\t' ? '\t' : ' ';
    out += caret + "^\n";
    return out;
}

std::string format_diagnostics(std::string_view file, std::string_view text, std::span<const diagnostic> ds,
                               std::size_t dropped) {
    std::string out;
    for (const auto& d : ds)
        out += format_diagnostic(file, text, d);
    if (dropped > 0) out += fmt::format("{}: too many errors ({} more not shown)\n", file, dropped);
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string_view closest(std::string_view word, std::span<const std::string_view> candidates) {
    constexpr std::size_t max_distance = 3;
    std::string_view best;
    std::size_t best_distance = max_distance + 1;
    for (auto c : candidates) {
        auto d = edit_distance(word, c);
        // Replacing every letter is no hint ('c' is not a typo of 'me'), but a prefix is one
        // ('aes-128' for 'aes-128-gcm'), ranked as the weakest acceptable match.
        if (d > max_distance || d >= word.size()) {
            if (word.size() < 3 || !c.starts_with(word)) continue;
            d = max_distance;
        }
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

std::string did_you_mean(std::string_view word, std::span<const std::string_view> candidates) {
    auto c = closest(word, candidates);
    return c.empty() ? std::string() : fmt::format(", did you mean '{}'?", c);
}

} // namespace kp::runner
