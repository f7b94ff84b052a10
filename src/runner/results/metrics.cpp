#include "runner/results/metrics.hpp"

#include <stdexcept>

#include "engine/traffic/traffic.hpp"

namespace kp::runner {
namespace {

bool is_stream(engine::traffic k) {
    return engine::info(k).stream();
}
bool is_udp(engine::traffic k) {
    return engine::info(k).udp();
}

struct side_sums {
    double received_bytes = 0, moved_bytes = 0, transactions = 0, connections = 0;
    double lost = 0, datagrams_received = 0, retrans = 0;
};

/// From the side's totals over every flow: `flows` may be folded (engine/stats/fold.hpp).
side_sums sums_of(const engine::side_result& s) {
    const engine::flow_totals& f = s.totals;
    side_sums t;
    t.received_bytes = static_cast<double>(f.bytes_received);
    t.moved_bytes = static_cast<double>(f.bytes_received + f.bytes_sent);
    t.transactions = static_cast<double>(f.transactions);
    t.connections = static_cast<double>(f.connections);
    t.lost = static_cast<double>(f.lost);
    t.datagrams_received = static_cast<double>(f.datagrams_received);
    t.retrans = static_cast<double>(f.total_retrans);
    return t;
}

double per_second(double amount, double seconds) {
    return seconds > 0 ? amount / seconds : 0;
}

void set(metric_values& v, metric m, double x) {
    v[static_cast<std::size_t>(m)] = x;
}

} // namespace

std::optional<double> latency_from(const engine::histogram& h, metric m) {
    if (h.count() == 0) return std::nullopt;
    auto us = [](double ns) { return ns / 1000.0; };
    if (auto p = percentile_of(m)) return us(static_cast<double>(h.percentile(*p)));
    switch (m) {
    case metric::latency_min:
        return us(static_cast<double>(h.min()));
    case metric::latency_max:
        return us(static_cast<double>(h.max()));
    case metric::latency_mean:
        return us(h.mean());
    default:
        throw std::logic_error("latency_from: not a latency metric");
    }
}

metric headline_metric(engine::traffic kind) {
    switch (engine::info(kind).head) {
    case engine::headline::transactions:
        return metric::transactions_per_s;
    case engine::headline::connections:
        return metric::connections_per_s;
    case engine::headline::throughput:
        break;
    }
    return metric::throughput_bps;
}

metric_values derive_metrics(engine::traffic kind, const engine::side_result& client,
                             const engine::side_result& server) {
    metric_values v{};
    side_sums c = sums_of(client), s = sums_of(server);
    bool rr = !is_stream(kind);
    // Goodput is what arrived. Streams: each side's received bytes over its own window, so
    // forward, reverse and bidir all add up without knowing the direction. rr and crr: the
    // response bytes the client received (wrk's Transfer/sec); requests count in transactions_per_s.
    double bps = 8 * per_second(c.received_bytes, client.seconds);
    if (!rr) bps += 8 * per_second(s.received_bytes, server.seconds);
    set(v, metric::throughput_bps, bps);
    if (rr) set(v, metric::transactions_per_s, per_second(c.transactions, client.seconds));
    if (engine::info(kind).pattern == engine::exchange::crr)
        set(v, metric::connections_per_s, per_second(c.connections, client.seconds));
    if (rr)
        for (metric m :
             {metric::latency_p50, metric::latency_p90, metric::latency_p99, metric::latency_p999,
              metric::latency_p9999, metric::latency_min, metric::latency_max, metric::latency_mean})
            if (auto x = latency_from(client.latency, m)) set(v, m, *x);
    if (is_udp(kind) && rr) {
        // udp_rr: the share of transactions lost, as the client counts them: a request or its reply that
        // did not come back within `timeout` is one lost transaction. The server's datagram
        // counts would mix in requests it answered whose reply was lost, counting them twice.
        if (c.transactions + c.lost > 0) set(v, metric::loss_ratio, c.lost / (c.transactions + c.lost));
    } else if (is_udp(kind)) {
        // udp_stream: datagrams lost / (received + lost) on the receiving side(s).
        double lost = c.lost + s.lost, seen = c.datagrams_received + s.datagrams_received;
        if (lost + seen > 0) set(v, metric::loss_ratio, lost / (lost + seen));
    } else {
        set(v, metric::retransmits, c.retrans + s.retrans);
    }
    double ccpu = client.cpu_total.busy(), scpu = server.cpu_total.busy();
    set(v, metric::client_cpu_s, ccpu);
    set(v, metric::server_cpu_s, scpu);
    // Service demand: CPU per unit of work. Streams: CPU seconds per GB moved by that side;
    // rr/crr: CPU microseconds per transaction.
    auto demand = [&](double cpu, const side_sums& own) -> std::optional<double> {
        if (rr) return c.transactions > 0 ? std::optional(cpu * 1e6 / c.transactions) : std::nullopt;
        return own.moved_bytes > 0 ? std::optional(cpu / (own.moved_bytes / 1e9)) : std::nullopt;
    };
    if (auto d = demand(ccpu, c)) set(v, metric::client_service_demand, *d);
    if (auto d = demand(scpu, s)) set(v, metric::server_service_demand, *d);
    // Over the flows of the side that received the headline: the client for rr/crr, the
    // receiving side of a stream (bidir: the side that received more).
    const engine::side_result& fair = rr || c.received_bytes >= s.received_bytes ? client : server;
    set(v, metric::fairness, fair.spread.fairness);
    if (const auto& late = client.send_lateness; late.count() > 0 && measured_by(kind, metric::send_lateness_p99))
        set(v, metric::send_lateness_p99, static_cast<double>(late.percentile(99)) / 1000.0);
    return v;
}

} // namespace kp::runner
