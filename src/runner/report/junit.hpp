#pragma once
/// JUnit XML for CI systems: one testsuite per run, one testcase per instance (an <error> when it
/// failed), one per `expect:` check (a <failure> when it failed), one per baseline regression.
#include <string>
#include <string_view>

#include "runner/results/record.hpp"

namespace kp::runner {

/// The JUnit XML document of `run` (run.baseline rows judged a regression become failures).
[[nodiscard]] std::string junit_xml(const run_record& run);

/// Escapes text for XML attributes and content.
[[nodiscard]] std::string xml_escape(std::string_view s);

} // namespace kp::runner
