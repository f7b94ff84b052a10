#include <doctest/doctest.h>

#include "runner/report/progress.hpp"

using namespace kp::runner;
using kp::engine::traffic;

namespace {
metric_values values(std::initializer_list<std::pair<metric, double>> list) {
    metric_values v;
    for (auto [m, x] : list)
        v[static_cast<std::size_t>(m)] = x;
    return v;
}
} // namespace

TEST_CASE("progress: the headline prints rates and latencies in the unit that fits") {
    CHECK(headline(traffic::tcp_rr,
                   values({{metric::transactions_per_s, 9999.6},
                           {metric::throughput_bps, 1.3e8},
                           {metric::latency_p50, 92'000},
                           {metric::latency_p99, 1e6}}),
                   false) == "10.0k tx/s p50 92.0 ms p99 1.00 s");
    CHECK(headline(traffic::tcp_crr,
                   values({{metric::connections_per_s, 6853},
                           {metric::transactions_per_s, 6853},
                           {metric::latency_p50, 48.77},
                           {metric::latency_p99, 999.95}}),
                   false) == "6853 conn/s 6853 tx/s p50 48.8 us p99 1.00 ms");
    CHECK(headline(traffic::tcp_stream, values({{metric::throughput_bps, 9.41e9}}), false) == "9.41 Gbit/s");
    CHECK(headline(traffic::udp_rr,
                   values({{metric::transactions_per_s, 5000},
                           {metric::latency_p50, 0.85},
                           {metric::loss_ratio, 0.0012}}),
                   false) == "5000 tx/s p50 850 ns loss 0.120%");
    CHECK(headline(traffic::tcp_stream, values({}), false) == "-");
}
