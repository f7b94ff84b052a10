#include "engine/stats/fold.hpp"

#include <algorithm>

namespace kp::engine {

void add_flow(flow_totals& t, const flow_result& f) {
    ++t.flows;
    t.bytes_sent += f.bytes_sent;
    t.bytes_received += f.bytes_received;
    t.transactions += f.transactions;
    t.connections += f.connections;
    t.datagrams_sent += f.datagrams_sent;
    t.datagrams_received += f.datagrams_received;
    t.lost += f.lost;
    t.reordered += f.reordered;
    t.duplicated += f.duplicated;
    t.total_retrans += f.tcp.total_retrans;
}

flow_totals totals_of(const std::vector<flow_result>& flows) {
    flow_totals t;
    for (const auto& f : flows)
        add_flow(t, f);
    return t;
}

flow_spread spread_of(const std::vector<flow_result>& flows, flow_figure figure) {
    flow_spread s;
    if (flows.empty()) return s;
    std::vector<std::uint64_t> x(flows.size());
    std::transform(flows.begin(), flows.end(), x.begin(), figure);
    std::sort(x.begin(), x.end());
    const std::size_t n = x.size();
    s.min = static_cast<double>(x.front());
    s.max = static_cast<double>(x.back());
    s.median = n % 2 ? static_cast<double>(x[n / 2])
                     : (static_cast<double>(x[n / 2 - 1]) + static_cast<double>(x[n / 2])) / 2;
    double sum = 0, squares = 0;
    for (std::uint64_t v : x) {
        sum += static_cast<double>(v);
        squares += static_cast<double>(v) * static_cast<double>(v);
    }
    s.fairness = squares > 0 ? sum * sum / (static_cast<double>(n) * squares) : 1.0;
    return s;
}

void fold_flows(side_result& r, flow_figure figure, bool detail) {
    r.totals = totals_of(r.flows);
    r.spread = spread_of(r.flows, figure);
    if (detail || r.flows.size() <= fold_threshold) return;
    auto below = [figure](const flow_result& a, const flow_result& b) {
        std::uint64_t fa = figure(a), fb = figure(b);
        return fa != fb ? fa < fb : a.id < b.id;
    };
    // Only the ends need ordering: move the lowest to the front and the highest to the back.
    auto& f = r.flows;
    std::nth_element(f.begin(), f.begin() + fold_keep, f.end(), below);
    std::sort(f.begin(), f.begin() + fold_keep, below);
    std::nth_element(f.begin() + fold_keep, f.end() - fold_keep, f.end(), below);
    std::sort(f.end() - fold_keep, f.end(), below);
    std::move(f.end() - fold_keep, f.end(), f.begin() + fold_keep);
    r.flows_omitted = f.size() - 2 * fold_keep;
    f.resize(2 * fold_keep);
    f.shrink_to_fit();
}

} // namespace kp::engine
