#include <exception>

#include <fmt/format.h>

#include "runner/cli/cli.hpp"

int main(int argc, char** argv) {
    try {
        return kp::runner::run_cli(argc, argv);
    } catch (const std::exception& e) {
        // Exceptions are for bugs only; say so rather than die silently.
        fmt::print(stderr, "kperf-plan: internal error: {}\n", e.what());
        return kp::runner::exit_infrastructure;
    }
}
