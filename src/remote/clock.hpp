#pragma once
/// How far an agent host's clock is from the runner's, NTP style: a few clock requests, each
/// bracketed by the runner's CLOCK_REALTIME; the one with the smallest round trip wins, because
/// its reply could have been read in the narrowest interval. The offset assumes the host read
/// its clock halfway through that round trip, so it is good to half of it (the uncertainty).
#include <chrono>
#include <cstdint>

#include "engine/core/error.hpp"
#include "remote/agent_client.hpp"

namespace kp::remote {

struct clock_estimate {
    std::int64_t offset_ns = 0;      ///< host clock minus runner clock
    std::int64_t rtt_ns = 0;         ///< the best (smallest) round trip
    std::int64_t uncertainty_ns = 0; ///< half of rtt_ns: the offset is within ± this
};

/// Takes `rounds` clock requests (at least 1) in a row, each with timeout `t`; fails with the
/// first request that fails. Costs `rounds` round trips of the control stream.
result<clock_estimate> estimate_clock(agent_client& agent, int rounds = 8,
                                      agent_client::timeout t = std::chrono::seconds(5));

} // namespace kp::remote
