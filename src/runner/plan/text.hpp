#pragma once
/// Checks on raw plan text before YAML parsing, so that hostile input gets a clear error
/// instead of a crash, a hang or deep recursion inside the parser.
#include <optional>
#include <string_view>

#include "runner/plan/diagnostics.hpp"

namespace kp::runner {

/// Deepest nesting a plan may use; real plans need 4.
inline constexpr int max_plan_depth = 32;

/// The first reason `text` cannot be a plan (too big, empty, not UTF-8 text, nested too
/// deeply), or nullopt when it is fit to hand to the YAML parser.
[[nodiscard]] std::optional<diagnostic> prescan_plan_text(std::string_view text);

/// True when `line` is UTF-8 without control bytes (tab allowed): fit to echo on a terminal
/// under a diagnostic.
[[nodiscard]] bool is_echo_safe(std::string_view line);

} // namespace kp::runner
