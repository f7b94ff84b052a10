#include "remote/clock.hpp"

#include <algorithm>
#include <limits>

#include "engine/core/clock.hpp"

namespace kp::remote {

result<clock_estimate> estimate_clock(agent_client& agent, int rounds, agent_client::timeout t) {
    clock_estimate best{0, std::numeric_limits<std::int64_t>::max(), 0};
    for (int i = 0; i < std::max(rounds, 1); ++i) {
        std::int64_t sent = engine::real_ns();
        auto host = agent.clock(t);
        std::int64_t back = engine::real_ns();
        if (!host) return fail(host.error());
        if (back - sent < best.rtt_ns)
            best = {*host - (sent + (back - sent) / 2), back - sent, (back - sent) / 2};
    }
    return best;
}

} // namespace kp::remote
