#include "runner/cli/dry_run.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/worker/placement.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/human.hpp"
#include "runner/plan/params.hpp"
#include "runner/plan/units.hpp"

namespace kp::runner {
namespace {

std::string describe_host(const host& h) {
    if (h.local()) return fmt::format("{} (this machine, address {})", h.name, h.address);
    if (!h.exec.empty())
        return fmt::format("{} (exec {}, address {})", h.name, fmt::join(h.exec, " "), h.address);
    std::string via;
    for (const auto& j : h.jump)
        via += (via.empty() ? " via " : ", ") + j.str();
    return fmt::format("{} (ssh {}{}, address {})", h.name, h.ssh->str(), via, h.address);
}

std::string describe_rule(const engine::placement_rule& r) {
    using k = engine::placement_rule::kind;
    if (r.how == k::any) return "any";
    if (r.how == k::cpus) return engine::format_cpu_list(r.cpus);
    if (r.offset == 0) return "rx";
    return fmt::format("rx{:+d}", r.offset);
}

/// A parameter's value as written, and in bytes when it is a size in a decimal unit: `64KB` is
/// 64000 bytes, which a reader may take for 64KiB.
std::string shown_value(std::string_view name, const std::string& value) {
    auto p = param_from_name(name);
    if (!p || info(*p).kind != param_kind::size) return value;
    return decimal_size_note(value).value_or(value);
}

} // namespace

std::string format_setups(const plan& p) {
    if (p.setups.empty()) return {};
    std::string out = "setups (applied on these hosts around the instances that name them, then put back):\n";
    for (const auto& s : p.setups) {
        out += fmt::format("  {}:{}\n", s.name, s.hosts.empty() ? " changes nothing" : "");
        for (const auto& h : s.hosts) {
            for (const auto& [k, v] : h.sysctl)
                out += fmt::format("    host {}: sysctl {} = {}\n", h.host, k, v);
            for (const auto& [iface, cpus] : h.irq_affinity)
                out += fmt::format("    host {}: irq_affinity {}: every IRQ of {} to CPUs {}\n", h.host,
                                   iface, iface, cpus);
            for (const auto& c : h.run)
                out += fmt::format("    host {}: run: {}\n", h.host, c);
            for (const auto& c : h.undo)
                out += fmt::format("    host {}: undo: {}\n", h.host, c);
        }
    }
    return out;
}

std::string format_dry_run(const plan& p) {
    return format_dry_run(p, expand(p));
}

std::string format_dry_run(const plan& p, const std::vector<instance>& instances) {
    std::string out = fmt::format("plan '{}' ({}): {} instance{}; dry run, nothing is contacted\n", p.name,
                                  p.file, instances.size(), instances.size() == 1 ? "" : "s");
    for (const auto& o : p.override_text)
        out += fmt::format("--set {}: above everything the plan says\n", o);
    if (auto s = format_setups(p); !s.empty()) out += "\n" + s;
    std::size_t n = 0;
    for (const auto& in : instances) {
        out += fmt::format("\n[{}/{}] {}\n", ++n, instances.size(), in.id);
        if (in.is_group()) {
            out +=
                fmt::format("    group of {} members, started together on their hosts; one window: {} + {} "
                            "warm-up; repeat {}\n",
                            in.members.size(), format_duration(in.job.duration),
                            format_duration(in.job.warmup), in.repeat);
            if (!in.setup.empty()) out += fmt::format("    setup: {}\n", in.setup);
            if (in.compare_idle)
                out += "    compare_idle: each latency member also runs alone after each repeat\n";
            for (const auto& e : in.expect)
                out += fmt::format("    expect: {}{} {}\n", e.member.empty() ? "" : e.member + ".", e.metric,
                                   e.text);
            for (const auto& m : in.members) {
                std::vector<std::string> shown;
                for (const auto& [name, value] : m.params)
                    if (name != "client" && name != "server" && name != "traffic" && name != "duration" &&
                        name != "warmup" && name != "repeat" && name != "on_error")
                        shown.push_back(name + "=" + shown_value(name, value));
                out += fmt::format("    member {}: {} {} -> {}\n        {}\n", m.member, name_of(m.job.kind),
                                   m.client, m.server, fmt::join(shown, ", "));
                out += fmt::format("        placement: client {}, server {}, distinct_rx {}\n",
                                   describe_rule(m.client_placement), describe_rule(m.server_placement),
                                   m.job.distinct_rx);
                for (const auto& e : m.expect)
                    out += fmt::format("        expect: {} {}\n", e.metric, e.text);
            }
            continue;
        }
        out += fmt::format("    client: {}\n", describe_host(*p.find_host(in.client)));
        out += fmt::format("    server: {}\n", describe_host(*p.find_host(in.server)));
        for (const auto& [name, value] : in.params) {
            if (name == "client" || name == "server") continue;
            out += fmt::format("    {}: {}\n", name, shown_value(name, value));
        }
        out += fmt::format("    placement: client {}, server {}, distinct_rx {}\n",
                           describe_rule(in.client_placement), describe_rule(in.server_placement),
                           in.job.distinct_rx);
        for (std::size_t i = 0; i < in.via.size(); ++i)
            out += fmt::format("    via[{}]: {}, forwarder placement {}\n", i,
                               describe_host(*p.find_host(in.via[i])), describe_rule(in.via_placement));
        if (!in.via.empty())
            out += fmt::format(
                "    chain: {} -> {} -> {}{}\n", in.client, fmt::join(in.via, " -> "), in.server,
                in.compare_direct ? "; compare_direct: each repeat also runs client -> server" : "");
        if (in.until)
            out += fmt::format("    until: ci_width {:g}%, max_repeat {}\n", in.until->ci_width * 100,
                               in.until->max_repeat);
        for (const auto& e : in.expect)
            out += fmt::format("    expect: {} {}\n", e.metric, e.text);
        if (const auto& s = in.search) {
            out += fmt::format("    search: rate {} .. {} ({} .. {} messages/s), precision {:g}%, at most {} "
                               "probes of {} + {} warm-up{}\n",
                               format_rate(s->low), format_rate(s->high), human_number(s->low_per_s),
                               human_number(s->high_per_s), s->precision * 100, s->max_probes,
                               format_duration(s->probe_duration), format_duration(in.job.warmup),
                               s->max_time.count() ? ", at most " + format_duration(s->max_time)
                                                   : std::string());
            for (const auto& e : s->slo)
                out += fmt::format("    slo: {} {}\n", e.metric, e.text);
            out += fmt::format(
                "    a probe passes when the SLO holds and it achieves >= {:g}% of the offered rate\n",
                search_min_achieved * 100);
        }
    }
    return out;
}

} // namespace kp::runner
