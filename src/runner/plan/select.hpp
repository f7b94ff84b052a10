#pragma once
/// `--only PATTERN`: the instances whose id matches a shell glob (fnmatch: `*` also matches
/// `/`, so `rpc/*` is every instance of scenario rpc).
#include <expected>
#include <string>
#include <vector>

#include "runner/plan/expand.hpp"

namespace kp::runner {

/// The instances matching any of `patterns`, in plan order (all of them when `patterns` is
/// empty). A pattern that matches nothing is an error naming it and the nearest ids.
[[nodiscard]] std::expected<std::vector<instance>, std::string>
select_instances(std::vector<instance> all, const std::vector<std::string>& patterns);

} // namespace kp::runner
