#pragma once
/// `run -i`: while traffic runs, once a second, each side's seconds closed since the last look,
/// one line per second as iperf3 -i prints them: the rate and the p50/p99 of that second.
#include <chrono>
#include <string>
#include <vector>

#include "remote/agent_client.hpp"
#include "runner/report/progress.hpp"

namespace kp::runner {

class live_printer {
  public:
    /// Prints through `prog` (nothing at all when it is null).
    explicit live_printer(progress* prog) : prog_(prog) {}
    /// Watches session `name` on `agent`; `label` starts its lines ("rr/in_flight=8 client").
    void watch(remote::agent_client* agent, std::string name, std::string label, bool stream);
    /// At most once a second: asks every watched side for its closed seconds and prints the new ones.
    void poll();
    /// After the end: the seconds of session `name` not printed yet, from its final figures.
    void rest(const std::string& name, const std::vector<engine::sample>& all);

  private:
    struct watched {
        remote::agent_client* agent;
        std::string name, label;
        bool stream;
        std::size_t shown = 0;
    };
    progress* prog_;
    std::vector<watched> sides_;
    std::chrono::steady_clock::time_point last_{};
};

/// One live line: "rr/in_flight=8 client   2.0 s  52.1k tx/s  p50 48.77 us  p99 85.1 us".
[[nodiscard]] std::string live_line(const std::string& label, const engine::sample& s, double seconds,
                                    bool stream);

} // namespace kp::runner
