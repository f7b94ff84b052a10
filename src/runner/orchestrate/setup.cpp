#include "runner/orchestrate/setup.hpp"

#include <chrono>

#include <fmt/format.h>

#include "runner/orchestrate/failure.hpp"
#include "runner/orchestrate/orchestrate.hpp"

namespace kp::runner {

namespace {

/// A setup's commands may take a while (tc, ethtool); each request gets this long.
constexpr std::chrono::milliseconds setup_timeout{60000};

setup_host_record record_of(const std::string& host, const remote::setup_reply& r) {
    setup_host_record h;
    h.host = host;
    for (const auto& c : r.sysctl)
        h.sysctl.push_back({c.name, c.irq, c.before, c.after});
    for (const auto& c : r.irqs)
        h.irqs.push_back({c.name, c.irq, c.before, c.after});
    for (const auto& c : r.commands)
        h.commands.push_back({c.command, c.exit_code, c.stdout_text, c.stderr_text});
    return h;
}

remote::setup_apply_args args_of(const setup_def& def, const setup_host& sh) {
    remote::setup_apply_args a;
    a.setup = def.name;
    for (const auto& [k, v] : sh.sysctl)
        a.sysctl.push_back({k, v});
    for (const auto& [k, v] : sh.irq_affinity)
        a.irq_affinity.push_back({k, v});
    a.run = sh.run;
    a.undo = sh.undo;
    return a;
}

} // namespace

void setup_keeper::restore() {
    if (!applied_) return;
    // Newest host first, the reverse of applying.
    for (auto it = applied_->hosts.rbegin(); it != applied_->hosts.rend(); ++it) {
        auto* agent = pool_.find(it->host);
        if (!agent) continue;
        auto r = agent->setup_restore(applied_->name, setup_timeout);
        if (!r)
            prog_.log(fmt::format("kperf-plan: host {}: restoring setup '{}': {}", it->host, applied_->name,
                                  side_failure(it->host, "restore setup", applied_->name, r.error()).error));
        else
            for (const auto& e : r->errors)
                prog_.log(fmt::format("kperf-plan: host {}: restoring setup '{}': {}", it->host,
                                      applied_->name, e));
    }
    applied_.reset();
}

std::optional<failure_reason> setup_keeper::enter(const instance& inst, instance_record& rec) {
    if (applied_ && applied_->name == inst.setup) {
        rec.setup = applied_; // applied for an earlier instance, and still holding
        return std::nullopt;
    }
    restore();
    if (inst.setup.empty()) return std::nullopt;
    const setup_def* def = p_.find_setup(inst.setup);
    if (!def) return failure_reason{"", "setup " + inst.setup, "no such setup"}; // the loader refuses it
    applied_ = setup_record{def->name, {}};
    for (const auto& sh : def->hosts) {
        auto* agent = pool_.find(sh.host);
        if (!agent) {
            auto why = host_unavailable(pool_, sh.host);
            why.step = fmt::format("setup {}: {}", def->name, why.step);
            rec.setup = applied_; // the hosts done before it, put back now
            restore();
            return why;
        }
        auto r = agent->setup_apply(args_of(*def, sh), setup_timeout);
        if (!r) {
            // The agent undid that host's steps itself; the hosts before it go back now.
            // The agent's own words ("run 'tc ...': exit 2: ..."), host and "setup NAME" said once.
            failure_reason why = side_failure(sh.host, "setup", def->name, r.error());
            rec.setup = applied_;
            restore();
            return why;
        }
        applied_->hosts.push_back(record_of(sh.host, *r));
    }
    rec.setup = applied_;
    return std::nullopt;
}

} // namespace kp::runner
