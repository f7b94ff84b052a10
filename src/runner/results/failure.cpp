#include <csignal>

#include <fmt/format.h>

#include "runner/results/record.hpp"

namespace kp::runner {

failure_reason interrupted_at(std::string step, int sig) {
    std::string why = sig == SIGINT    ? "interrupted (SIGINT)"
                      : sig == SIGTERM ? "interrupted (SIGTERM)"
                      : sig > 0        ? fmt::format("interrupted (signal {})", sig)
                                       : std::string("interrupted");
    failure_reason f{"", std::move(step), std::move(why)};
    f.interrupted = true;
    return f;
}

std::string describe(const failure_reason& f) {
    if (f.host.empty()) return fmt::format("{}: {}", f.step, f.error);
    return fmt::format("host {}: {}: {}", f.host, f.step, f.error);
}

} // namespace kp::runner
