#include "runner/results/proxy_record.hpp"

#include "engine/traffic/traffic.hpp"
#include "runner/results/record.hpp"

namespace kp::runner {

std::vector<hop_record> summarize_hops(engine::traffic kind, std::span<const std::string> via,
                                       std::span<const repeat_record> repeats) {
    std::vector<hop_record> out(via.size());
    const bool stream = engine::info(kind).stream(); // hops relay TCP only
    for (std::size_t i = 0; i < via.size(); ++i) {
        hop_record& h = out[i];
        h.host = via[i];
        double demand_sum = 0;
        std::size_t n = 0, demands = 0;
        for (const auto& rep : repeats) {
            if (i >= rep.hops.size()) continue;
            const engine::side_result& r = rep.hops[i];
            ++n;
            h.cpu_s += r.cpu_total.busy();
            h.process_cpu_s += r.rusage_user_s + r.rusage_system_s;
            if (r.relay) {
                h.connections += r.relay->connections;
                h.bytes_forward += r.relay->bytes_forward;
                h.bytes_backward += r.relay->bytes_backward;
            }
            h.errors += r.errors.connect + r.errors.read + r.errors.write + r.errors.rejected_hello;
            if (h.placement_note.empty()) h.placement_note = r.placement_note;
            // Service demand like the end hosts': per transaction the client completed, or per
            // GB this hop relayed.
            const auto& m = rep.metrics;
            auto tps = m[static_cast<std::size_t>(metric::transactions_per_s)];
            if (!stream && tps && *tps > 0 && rep.client.seconds > 0) {
                demand_sum += r.cpu_total.busy() * 1e6 / (*tps * rep.client.seconds);
                ++demands;
            } else if (stream && r.relay && r.relay->bytes_forward + r.relay->bytes_backward > 0) {
                demand_sum +=
                    r.cpu_total.busy() / (double(r.relay->bytes_forward + r.relay->bytes_backward) / 1e9);
                ++demands;
            }
        }
        if (n > 0) {
            h.cpu_s /= double(n);
            h.process_cpu_s /= double(n);
        }
        if (demands > 0) h.service_demand = demand_sum / double(demands);
    }
    return out;
}

namespace {

std::optional<double> value_of(const instance_aggregate& a, metric m) {
    const auto* x = a.find(m);
    return x ? std::optional(x->value) : std::nullopt;
}

} // namespace

void compare_direct(const instance_aggregate& chain, std::span<const hop_record> hops,
                    direct_record& direct) {
    direct.aggregate = aggregate_of(direct.repeats);
    auto added = [&](metric m) -> std::optional<double> {
        auto c = value_of(chain, m), d = value_of(direct.aggregate, m);
        return c && d ? std::optional(*c - *d) : std::nullopt;
    };
    direct.added_latency_p50_us = added(metric::latency_p50);
    direct.added_latency_p99_us = added(metric::latency_p99);
    auto cc = value_of(chain, metric::client_cpu_s), cs = value_of(chain, metric::server_cpu_s);
    auto dc = value_of(direct.aggregate, metric::client_cpu_s),
         ds = value_of(direct.aggregate, metric::server_cpu_s);
    if (cc && cs && dc && ds) direct.added_cpu_s = *cc + *cs + proxy_cpu_s(hops).value_or(0) - *dc - *ds;
}

std::optional<double> proxy_cpu_s(std::span<const hop_record> hops) {
    if (hops.empty()) return std::nullopt;
    double s = 0;
    for (const auto& h : hops)
        s += h.cpu_s;
    return s;
}

} // namespace kp::runner
