#pragma once
/// `run --dry-run`: the expanded instances as text, without contacting anything.
#include <string>

#include "runner/plan/plan.hpp"

namespace kp::runner {

/// Every instance of `p`: its stable id, the hosts involved and each parameter.
[[nodiscard]] std::string format_dry_run(const plan& p);

} // namespace kp::runner
