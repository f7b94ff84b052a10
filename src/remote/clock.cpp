#include "remote/clock.hpp"

#include <algorithm>
#include <limits>

namespace kp::remote {

result<clock_estimate> estimate_clock(agent_client& agent, int rounds, agent_client::timeout t) {
    clock_estimate best{0, std::numeric_limits<std::int64_t>::max(), 0};
    for (int i = 0; i < std::max(rounds, 1); ++i) {
        auto r = agent.clock(t);
        if (!r) return fail(r.error());
        std::int64_t rtt = r->received_ns - r->sent_ns;
        if (rtt < best.rtt_ns) best = {r->host_ns - (r->sent_ns + rtt / 2), rtt, rtt / 2};
    }
    return best;
}

} // namespace kp::remote
