#pragma once
/// `run --dry-run`: the expanded instances as text, without contacting anything.
#include <string>

#include <vector>

#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"

namespace kp::runner {

/// Every instance of `p`: its stable id, the hosts involved and each parameter.
[[nodiscard]] std::string format_dry_run(const plan& p);
/// The same for `instances` of `p` only (`--only`).
[[nodiscard]] std::string format_dry_run(const plan& p, const std::vector<instance>& instances);

/// The plan's setups: each value it writes and each command it runs, with the host, one line
/// each (`validate` and --dry-run show them); empty without setups.
[[nodiscard]] std::string format_setups(const plan& p);

} // namespace kp::runner
