#include "runner/cli/check.hpp"

#include <signal.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "runner/orchestrate/check.hpp"
#include "runner/orchestrate/hosts.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/human.hpp"
#include "runner/results/exit_code.hpp"

namespace kp::runner {
namespace {

/// Ignores SIGPIPE while the check runs: a dead agent's pipe is an error value, not a signal.
class no_sigpipe {
  public:
    no_sigpipe() {
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &ign, &old_);
    }
    ~no_sigpipe() { sigaction(SIGPIPE, &old_, nullptr); }
    no_sigpipe(const no_sigpipe&) = delete;
    no_sigpipe& operator=(const no_sigpipe&) = delete;

  private:
    struct sigaction old_ {};
};

std::string probe_line(const plan& p, const agent_pool& pool, const probe_route& r, const probe_result& res,
                       const probe_timing& timing) {
    const auto name = engine::info(res.kind).name;
    if (res.failure)
        return fmt::format("pair {}: {} FAILED: {}\n", describe_route(p, r, &pool), name,
                           describe(*res.failure));
    return fmt::format("pair {}: {} ok, {} transactions in {}, p50 {}\n", describe_route(p, r, &pool), name,
                       res.transactions, human_ns(double(timing.window.count())), human_us(res.p50_us));
}

} // namespace

int check_plan(const plan& p, const run_options& options) {
    no_sigpipe pipe_guard;
    const auto instances = expand(p);
    std::set<std::string> needed;
    for (const instance* i : pair_instances(instances)) {
        needed.insert({i->client, i->server});
        needed.insert(i->via.begin(), i->via.end());
    }
    const auto routes = probe_routes(instances);
    fmt::print("kperf-plan check: plan {} ({}): {} instance(s), {} host(s), {} pair(s); no traffic is "
               "measured\n",
               p.name, p.file, instances.size(), needed.size(), routes.size());
    std::fflush(stdout);

    std::string executable = std::filesystem::read_symlink("/proc/self/exe").string();
    agent_pool pool = open_agents(p, needed, options, executable,
                                  [](const std::string& l) { fmt::print(stderr, "{}\n", l); });
    bool host_failed = false;
    for (const auto& h : pool.hosts) {
        fmt::print("\n{}", format_host_facts(h, address_of(p, pool, h.name)));
        host_failed = host_failed || h.failure.has_value();
    }

    const std::string bad_placement = check_placements(p, instances, pool);
    fmt::print("\nplacement: {}\n",
               bad_placement.empty() ? "every rule can hold on its host" : "some rules cannot hold (below)");
    std::fflush(stdout);
    if (!bad_placement.empty()) fmt::print(stderr, "{}", bad_placement);

    probe_timing timing;
    timing.establish = p.settings.connect_timeout;
    std::size_t failed_pairs = 0;
    for (const auto& r : routes) {
        std::vector<engine::traffic> kinds{engine::traffic::tcp_rr};
        if (r.udp && r.via.empty()) kinds.push_back(engine::traffic::udp_rr);
        bool ok = true;
        for (auto kind : kinds) {
            auto res = run_probe(p, r, kind, pool, timing);
            ok = ok && !res.failure;
            fmt::print("{}", probe_line(p, pool, r, res, timing));
            std::fflush(stdout);
        }
        failed_pairs += ok ? 0 : 1;
    }
    pool.shutdown();

    if (!bad_placement.empty()) {
        fmt::print("\ncheck: FAILED: placement rules cannot hold on their hosts (exit {})\n", exit_usage);
        return exit_usage;
    }
    if (host_failed || failed_pairs > 0) {
        fmt::print("\ncheck: FAILED: {} of {} pair(s) cannot exchange data{} (exit {})\n", failed_pairs,
                   routes.size(), host_failed ? ", a host cannot be reached" : "", exit_infrastructure);
        return exit_infrastructure;
    }
    fmt::print("\ncheck: ok: {} host(s), {} pair(s) exchange data\n", pool.hosts.size(), routes.size());
    return exit_ok;
}

} // namespace kp::runner
