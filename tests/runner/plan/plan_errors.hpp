#pragma once
/// The located errors of a plan that must not load, for the plan tests.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "runner/plan/plan.hpp"

namespace kp::runner::test {

/// The error text of loading `text` as `file`; fails the test when the plan loads.
inline std::string errors_of(std::string_view text, std::string_view file = "x.yaml") {
    auto p = load_plan(file, text);
    REQUIRE_FALSE(p.has_value());
    return p.error().text;
}

} // namespace kp::runner::test
