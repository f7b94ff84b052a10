#pragma once
/// Keepalive over the control stream. Through a network partition the SSH connection is not
/// reset, so neither side would ever learn the other is gone. A runner that asks for it in its
/// hello (`keepalive_ms`) sends something, a `ping` request when nothing else, at least that
/// often; the agent exits (putting back its setups) once it has heard nothing for idle_limit(),
/// and the runner gives up on an agent that has not answered for as long. An agent whose hello
/// asked for no keepalive (an older runner, a hand-driven agent) never gives up on silence.
#include <chrono>
#include <string>

#include <fmt/format.h>

namespace kp::remote::keepalive {

/// The runner's default interval (`run --keepalive`): 20 s of silence end a host.
inline constexpr std::chrono::milliseconds default_interval{5000};

/// How long either side waits in silence before it gives the other up: three intervals, and a
/// fourth as margin for a reply in flight.
[[nodiscard]] constexpr std::chrono::milliseconds idle_limit(std::chrono::milliseconds interval) {
    return 4 * interval;
}

/// A limit as messages name it: "20 s", "1500 ms".
[[nodiscard]] inline std::string describe(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) return fmt::format("{} s", d.count() / 1000);
    return fmt::format("{} ms", d.count());
}

} // namespace kp::remote::keepalive
