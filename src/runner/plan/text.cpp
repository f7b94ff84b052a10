#include "runner/plan/text.hpp"

#include <fmt/format.h>

#include "runner/plan/plan.hpp"

namespace kp::runner {
namespace {

/// Length of the UTF-8 sequence at `s`, or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view s) {
    auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char c = b(0);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || n > s.size() || (n == 2 && c < 0xc2)) return 0;
    for (std::size_t i = 1; i < n; ++i)
        if ((b(i) & 0xc0) != 0x80) return 0;
    return n;
}

/// The first byte that is not UTF-8 text, located: the message names the byte, the location
/// its place (the line is not echoed, see is_echo_safe).
std::optional<diagnostic> check_text(std::string_view text) {
    int line = 1, col = 1;
    for (std::size_t i = 0; i < text.size();) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        std::size_t n = utf8_length(text.substr(i));
        bool control = c < 0x20 && c != '\t' && c != '\n' && c != '\r';
        if (n == 0 || control || c == 0x7f)
            return diagnostic{{line, col},
                              fmt::format("not a UTF-8 text file: byte 0x{:02x}; a plan is YAML text", c)};
        if (c == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
        i += n;
    }
    return std::nullopt;
}

/// Flow nesting ([ and {) outside quotes and comments, and block nesting by "- - -" and by
/// indentation. An approximation on purpose: it only has to stop the pathological cases early.
std::optional<diagnostic> check_depth(std::string_view text) {
    int depth = 0, line = 1, col = 0;
    char quote = 0;
    bool comment = false, line_start = true;
    int dashes = 0, indent = 0;
    auto too_deep = [&](std::string_view how) {
        return diagnostic{
            {line, col},
            fmt::format("{} nested too deeply: a plan may nest at most {} levels", how, max_plan_depth)};
    };
    char prev = '\n';
    for (char c : text) {
        ++col;
        if (c == '\n') {
            ++line;
            col = 0;
            comment = false;
            line_start = true;
            dashes = indent = 0;
            if (quote == '\'') quote = 0; // tolerate an apostrophe in a plain scalar
            prev = c;
            continue;
        }
        if (comment) continue;
        if (line_start) {
            if ((c == ' ' || c == '\t') && prev == '-') {
                if (++dashes > max_plan_depth) return too_deep("list");
                prev = c;
                continue;
            }
            if (c == ' ') {
                if (++indent > 4 * max_plan_depth) return too_deep("indentation");
                prev = c;
                continue;
            }
            if (c == '-') {
                prev = c;
                continue;
            }
            line_start = false;
        }
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '#' && (prev == ' ' || prev == '\t' || prev == '\n')) {
            comment = true;
        } else if ((c == '"' || c == '\'') && (prev == ' ' || prev == '\n' || prev == ':' || prev == '[' ||
                                               prev == '{' || prev == ',')) {
            quote = c;
        } else if (c == '[' || c == '{') {
            if (++depth > max_plan_depth) return too_deep("document");
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
        prev = c;
    }
    return std::nullopt;
}

} // namespace

bool is_echo_safe(std::string_view line) {
    for (std::size_t i = 0; i < line.size();) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        std::size_t n = utf8_length(line.substr(i));
        if (n == 0 || (c < 0x20 && c != '\t') || c == 0x7f) return false;
        i += n;
    }
    return true;
}

std::optional<diagnostic> prescan_plan_text(std::string_view text) {
    if (text.size() > max_plan_bytes)
        return diagnostic{{},
                          fmt::format("file is {} bytes; a plan may be at most {} bytes (1 MiB)", text.size(),
                                      max_plan_bytes)};
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return diagnostic{{}, "empty plan: expected a mapping with 'version: 1', 'hosts' and 'scenarios'"};
    if (auto d = check_text(text)) return d;
    return check_depth(text);
}

} // namespace kp::runner
