#include "runner/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace kp::runner {

int run_cli(int argc, char** argv) {
    CLI::App app{"kperf-plan: declarative network performance test plans"};
    app.set_version_flag("--version", std::string("kperf-plan 0.1.0"));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }
    return exit_ok;
}

} // namespace kp::runner
