#pragma once
/// Folding a side's per-flow figures before they travel: totals and the headline's spread over
/// every flow, then, for many flows, only the lowest and highest flows kept in full. A 10,000-flow
/// side is a few KB instead of tens of MB, and nothing the runner derives changes (it reads the
/// totals, never `flows`).
#include <cstddef>
#include <cstdint>

#include "engine/stats/result.hpp"

namespace kp::engine {

/// Up to this many flows a side keeps every flow_result.
inline constexpr std::size_t fold_threshold = 32;
/// Beyond fold_threshold, the side keeps this many lowest and this many highest flows by headline.
inline constexpr std::size_t fold_keep = 8;

/// The per-flow figure flows are ranked by: the kind's headline (engine/traffic/traffic.hpp).
using flow_figure = std::uint64_t (*)(const flow_result&);

/// Adds one flow's counters to `t` (flows + 1).
void add_flow(flow_totals& t, const flow_result& f);
/// Totals over `flows`.
[[nodiscard]] flow_totals totals_of(const std::vector<flow_result>& flows);
/// min / median / max and Jain's fairness index of `figure` over `flows`.
[[nodiscard]] flow_spread spread_of(const std::vector<flow_result>& flows, flow_figure figure);

/// Sets r.totals and r.spread from r.flows, then, unless `detail` or there are at most
/// fold_threshold flows, keeps only the fold_keep lowest and fold_keep highest flows by `figure`
/// (in ascending order of it, ties by id) and counts the rest in r.flows_omitted.
void fold_flows(side_result& r, flow_figure figure, bool detail);

} // namespace kp::engine
