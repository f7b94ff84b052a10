#pragma once
/// Setups around instances (plan `setups:`, the `setup` parameter): before an instance, the
/// hosts its setup names get it applied, in plan order; the setup stays while consecutive
/// instances use it and is put back when the next one needs another, and at the end of the run
/// (the destructor, so every way out of run_instances restores). A failing step fails the
/// instance before any traffic; the hosts it was applied to so far are put back at once.
#include <optional>
#include <string>

#include "runner/orchestrate/hosts.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"
#include "runner/report/progress.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

class setup_keeper {
  public:
    setup_keeper(const plan& p, agent_pool& pool, progress& prog) : p_(p), pool_(pool), prog_(prog) {}
    ~setup_keeper() { restore(); }
    setup_keeper(const setup_keeper&) = delete;
    setup_keeper& operator=(const setup_keeper&) = delete;

    /// Makes `inst.setup` the applied one (none: restores what is applied) and records it in
    /// `rec`; the failure names the host, the step and the agent's error.
    std::optional<failure_reason> enter(const instance& inst, instance_record& rec);
    /// Puts the applied setup back, if any; errors are logged (there is no instance to fail).
    void restore();

  private:
    const plan& p_;
    agent_pool& pool_;
    progress& prog_;
    std::optional<setup_record> applied_; ///< what holds now; its hosts are the ones to restore
};

} // namespace kp::runner
