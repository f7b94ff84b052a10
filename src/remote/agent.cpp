#include "remote/agent.hpp"

#include <cstdio>

namespace kp::remote {

// Replaced by the real agent loop (remote work).
int agent_main() {
    std::fputs("kperf-plan agent: not built yet\n", stderr);
    return 3;
}

} // namespace kp::remote
