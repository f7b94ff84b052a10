#pragma once
/// Setups on the agent's host (the setup_apply and setup_restore requests, docs/agent.md): what
/// a plan's `setups:` entry changes on one host, with the old values kept so that it can always
/// be put back, and is, when the control stream closes (the runner died).
///
/// Applying runs in the order written: each sysctl (through /proc/sys, old value saved), each
/// interface's IRQ affinities (/proc/irq/N/smp_affinity_list, old values saved), then each `run`
/// command through /bin/sh -c. The first step that fails stops it; what it had done is undone
/// at once, so a failed apply leaves the host as it was. Restoring writes the saved values back
/// in reverse order, then runs the `undo` commands; it goes on past errors and lists them.
#include <chrono>
#include <expected>
#include <mutex>
#include <string>
#include <vector>

#include "remote/messages.hpp"

namespace kp::remote {

/// Bytes of a command's stdout and of its stderr kept in a reply; the rest is dropped.
inline constexpr std::size_t setup_output_cap = 4096;

/// Runs `command` through /bin/sh -c with stdin from /dev/null, killing its process group at
/// `deadline`; the exit code is 128+N when a signal N ended it, -1 when it could not start.
[[nodiscard]] setup_command run_shell(const std::string& command,
                                      std::chrono::steady_clock::time_point deadline);

/// The IRQs of network interface `iface`: /sys/class/net/IFACE/device/msi_irqs, else the lines
/// of /proc/interrupts that name it. Sorted.
[[nodiscard]] std::vector<std::uint32_t> interface_irqs(const std::string& iface);

/// The setups applied on this host, newest last. Thread-safe.
class host_setups {
  public:
    /// Applies `a`; the error names the step and its error or stderr.
    std::expected<setup_reply, std::string> apply(const setup_apply_args& a,
                                                  std::chrono::steady_clock::time_point deadline);
    /// Puts setup `name` back; an error only when it is not applied.
    std::expected<setup_reply, std::string> restore(const std::string& name,
                                                    std::chrono::steady_clock::time_point deadline);
    /// Puts every applied setup back, newest first (end of the control stream, shutdown).
    std::vector<setup_reply> restore_all(std::chrono::steady_clock::time_point deadline);

  private:
    /// One applied setup: what to write back (in the order it was changed) and to run.
    struct applied {
        std::string name;
        std::vector<setup_change> sysctl, irqs;
        std::vector<std::string> undo;
    };
    static setup_reply put_back(const applied& a, std::chrono::steady_clock::time_point deadline);

    std::mutex mutex_;
    std::vector<applied> applied_;
};

} // namespace kp::remote
