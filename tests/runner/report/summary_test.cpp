#include <doctest/doctest.h>

#include "runner/report/summary.hpp"
#include "runner/results/aggregate.hpp"

using namespace kp::runner;
using kp::engine::traffic;

namespace {

/// An instance of one repeat with these metrics.
instance_record one_repeat(std::string id, traffic kind,
                           std::initializer_list<std::pair<metric, double>> list) {
    instance_record r;
    r.id = std::move(id);
    r.kind = kind;
    repeat_record rep;
    for (auto [m, x] : list)
        rep.metrics[static_cast<std::size_t>(m)] = x;
    r.repeats.push_back(rep);
    r.aggregate = aggregate_of(r.repeats);
    return r;
}

check_result failed(std::string metric, std::string text, double measured) {
    return {std::move(metric), comparison::lt, 0, std::move(text), measured, std::nullopt, false};
}

bool has_line(const std::string& text, const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
}

} // namespace

TEST_CASE("summary: FAIL, SEARCH and PROXY lines in the unit that fits, service demand in the kind's") {
    run_record run;
    auto rr = one_repeat("rr", traffic::tcp_rr,
                         {{metric::transactions_per_s, 1e4},
                          {metric::latency_p99, 49'900},
                          {metric::client_service_demand, 1'234}});
    rr.status = instance_status::expect_failed;
    rr.checks = {failed("latency_p99", "< 1ms", 49'900), failed("transactions_per_s", "> 20000", 9999.6),
                 failed("client_service_demand", "< 100", 1'234)};
    rr.hops = {{"p", "proxy", 0.41, 0.052, 12.34, 2, 0, 0, 0, ""}};
    rr.direct = direct_record{{}, {}, -31.23, 944.1, 0.0123};
    run.instances.push_back(rr);

    auto bulk = one_repeat("bulk", traffic::tcp_stream,
                           {{metric::throughput_bps, 9.41e9}, {metric::server_service_demand, 0.512}});
    bulk.status = instance_status::expect_failed;
    bulk.checks = {failed("server_service_demand", "< 0.1", 0.512)};
    run.instances.push_back(bulk);

    auto knee = one_repeat("knee", traffic::udp_rr, {{metric::transactions_per_s, 7500}});
    knee.search = search_record{{}, search_outcome::bracketed, 7500, 7500, 9999.6, "bracket ..."};
    run.instances.push_back(knee);

    const std::string s = "\n" + summary_table(run);
    INFO(s);
    CHECK(s.find("  10.0k tx/s p99 49.9 ms ") != std::string::npos);
    CHECK(s.find("  9.41 Gbit/s ") != std::string::npos);
    CHECK(has_line(s, "FAIL rr: latency_p99 < 1ms: measured 49.9 ms"));
    CHECK(has_line(s, "FAIL rr: transactions_per_s > 20000: measured 10.0k tx/s"));
    CHECK(has_line(s, "FAIL rr: client_service_demand < 100: measured 1.23 ms/transaction"));
    CHECK(has_line(s, "FAIL bulk: server_service_demand < 0.1: measured 512 ms/GB"));
    CHECK(has_line(
        s, "PROXY rr: hop p: cpu 410 ms (forwarder 52.0 ms), 12.3 us/transaction, 2 connections, 0 errors"));
    CHECK(has_line(s, "PROXY rr: added latency p50 -31.2 us, p99 +944 us; added cpu +12.3 ms"));
    CHECK(has_line(s, "SEARCH knee: peak 7500/s, bracket [7500/s, 10.0k/s], 0 probe(s) (bracket ...)"));
}
