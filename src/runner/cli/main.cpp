#include <exception>

#include <fmt/format.h>

#include "engine/core/fd_limit.hpp"
#include "runner/cli/cli.hpp"

int main(int argc, char** argv) {
    // Every flow takes a descriptor on each side: runner and agents (which run this binary too)
    // take all the open-file limit allows, not the soft default (often 1024).
    kp::engine::raise_fd_limit();
    try {
        return kp::runner::run_cli(argc, argv);
    } catch (const std::exception& e) {
        // Exceptions are for bugs only; say so rather than die silently.
        fmt::print(stderr, "kperf-plan: internal error: {}\n", e.what());
        return kp::runner::exit_infrastructure;
    }
}
