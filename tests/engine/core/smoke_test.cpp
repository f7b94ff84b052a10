#include <doctest/doctest.h>

#include "engine/core/error.hpp"

TEST_CASE("error: context is prepended") {
    auto e = kp::make_error("refused").context("connect b").context("host b");
    CHECK(e.message == "host b: connect b: refused");
    CHECK(e.kind == kp::error_kind::infrastructure);
}
