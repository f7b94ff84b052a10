#pragma once
// A test case that cannot run here (no root, no sshd, no TLS ULP) says so through skip(), so the
// run is not counted as a pass: when every case of one invocation skipped, the executable exits
// 77, which meson reports as SKIP (tests/doctest_main.cpp).
#include <string_view>

namespace kp::test {

/// Marks the running test case as skipped, logging "skipped: WHY"; the caller returns next.
void skip(std::string_view why);

} // namespace kp::test
