#include "runner/dry_run.hpp"

#include <fmt/format.h>

#include "engine/placement.hpp"
#include "runner/expand.hpp"

namespace kp::runner {
namespace {

std::string describe_host(const host& h) {
    if (h.local()) return fmt::format("{} (this machine, address {})", h.name, h.address);
    const auto& t = *h.ssh;
    bool v6 = t.host.find(':') != std::string::npos;
    return fmt::format("{} (ssh {}{}{}:{}, address {})", h.name, t.user.empty() ? "" : t.user + "@",
                       v6 ? "[" + t.host + "]" : t.host, "", t.port, h.address);
}

std::string describe_rule(const engine::placement_rule& r) {
    using k = engine::placement_rule::kind;
    if (r.how == k::any) return "any";
    if (r.how == k::cpus) return engine::format_cpu_list(r.cpus);
    if (r.offset == 0) return "rx";
    return fmt::format("rx{:+d}", r.offset);
}

} // namespace

std::string format_dry_run(const plan& p) {
    const auto instances = expand(p);
    std::string out = fmt::format("plan '{}' ({}): {} instance{}; dry run, nothing is contacted\n", p.name,
                                  p.file, instances.size(), instances.size() == 1 ? "" : "s");
    std::size_t n = 0;
    for (const auto& in : instances) {
        out += fmt::format("\n[{}/{}] {}\n", ++n, instances.size(), in.id);
        out += fmt::format("    client: {}\n", describe_host(*p.find_host(in.client)));
        out += fmt::format("    server: {}\n", describe_host(*p.find_host(in.server)));
        for (const auto& [name, value] : in.params) {
            if (name == "client" || name == "server") continue;
            out += fmt::format("    {}: {}\n", name, value);
        }
        out += fmt::format("    placement: client {}, server {}, distinct_rx {}\n",
                           describe_rule(in.client_placement), describe_rule(in.server_placement),
                           in.job.distinct_rx);
        if (in.until)
            out += fmt::format("    until: ci_width {:g}%, max_repeat {}\n", in.until->ci_width * 100,
                               in.until->max_repeat);
        for (const auto& e : in.expect)
            out += fmt::format("    expect: {} {}\n", e.metric, e.text);
    }
    return out;
}

} // namespace kp::runner
