#include "runner/orchestrate/live.hpp"

#include <fmt/format.h>

#include "runner/plan/human.hpp"

namespace kp::runner {

void live_printer::watch(remote::agent_client* agent, std::string name, std::string label, bool stream) {
    if (prog_ && agent) sides_.push_back({agent, std::move(name), std::move(label), stream});
}

std::string live_line(const std::string& label, const engine::sample& s, double seconds, bool stream) {
    std::string line = fmt::format("  {:<28} {:>6.1f} s  ", label, s.t);
    if (stream) {
        line += human_bit_rate(seconds > 0 ? 8.0 * double(s.bytes) / seconds : 0);
    } else {
        line += human_rate(seconds > 0 ? double(s.transactions) / seconds : 0, "tx");
    }
    if (s.latency_p50_us) line += "  p50 " + human_us(*s.latency_p50_us);
    if (s.latency_p99_us) line += "  p99 " + human_us(*s.latency_p99_us);
    return line;
}

void live_printer::rest(const std::string& name, const std::vector<engine::sample>& all) {
    for (auto& w : sides_) {
        if (w.name != name) continue;
        for (; w.shown < all.size(); ++w.shown) {
            const double start = w.shown == 0 ? 0.0 : all[w.shown - 1].t;
            prog_->log(live_line(w.label, all[w.shown], all[w.shown].t - start, w.stream));
        }
    }
}

void live_printer::poll() {
    if (!prog_ || sides_.empty()) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    for (auto& w : sides_) {
        // A side that cannot answer now (busy, gone) is simply not shown this second.
        auto got = w.agent->samples(w.name, std::chrono::seconds(2));
        if (!got) continue;
        for (; w.shown < got->size(); ++w.shown) {
            const auto& s = (*got)[w.shown];
            const double start = w.shown == 0 ? 0.0 : (*got)[w.shown - 1].t;
            prog_->log(live_line(w.label, s, s.t - start, w.stream));
        }
    }
}

} // namespace kp::runner
