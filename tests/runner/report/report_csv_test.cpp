#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "runner/report/csv.hpp"

using namespace kp;
using namespace kp::runner;

namespace {

std::vector<std::string> fields_of(const std::string& line) {
    std::vector<std::string> out(1);
    for (char c : line) {
        if (c == ',')
            out.emplace_back();
        else
            out.back() += c;
    }
    return out;
}

/// Each data row of `text` as column name -> value, read through the header.
std::vector<std::map<std::string, std::string>> rows_by_name(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    std::getline(in, line);
    auto header = fields_of(line);
    std::vector<std::map<std::string, std::string>> out;
    while (std::getline(in, line)) {
        auto f = fields_of(line);
        REQUIRE(f.size() == header.size());
        auto& row = out.emplace_back();
        for (std::size_t i = 0; i < f.size(); ++i)
            row[header[i]] = f[i];
    }
    return out;
}

run_record one_udp_rr_instance() {
    run_record run;
    run.plan_name = "p";
    run.started_at = "2026-12-02T00:00:00Z";
    instance_record r;
    r.id = "rr/flows=2";
    r.scenario = "rr";
    r.kind = engine::traffic::udp_rr;
    r.parameters = {{"flows", "2"}};
    r.client_host = "a";
    r.server_host = "b";
    r.status = instance_status::expect_failed;
    for (std::size_t i = 0; i < 2; ++i) {
        repeat_record rep;
        rep.index = i;
        rep.metrics[static_cast<std::size_t>(metric::transactions_per_s)] = 1000.0 + static_cast<double>(i);
        rep.metrics[static_cast<std::size_t>(metric::loss_ratio)] = 0.1;
        r.repeats.push_back(rep);
    }
    std::vector<metric_values> values;
    for (const auto& rep : r.repeats)
        values.push_back(rep.metrics);
    std::vector<engine::histogram> latencies(values.size());
    r.aggregate = aggregate_repeats(values, latencies);
    r.checks.push_back({"loss_ratio", comparison::lt, 0.01, "< 1%", 0.1, std::nullopt, false});
    run.instances.push_back(r);
    return run;
}

} // namespace

TEST_CASE("report_csv: every value sits under its own column, in aggregate and repeat rows") {
    auto run = one_udp_rr_instance();
    auto agg = rows_by_name(csv_text(run, csv_rows::aggregate));
    REQUIRE(agg.size() == 1);
    CHECK(agg[0]["plan"] == "p");
    CHECK(agg[0]["instance"] == "rr/flows=2");
    CHECK(agg[0]["traffic"] == "udp_rr");
    CHECK(agg[0]["parameters"] == "flows=2");
    CHECK(agg[0]["client_host"] == "a");
    CHECK(agg[0]["server_host"] == "b");
    CHECK(agg[0]["status"] == "expect_failed");
    CHECK(agg[0]["repeats"] == "2");
    CHECK(agg[0]["transactions_per_s"] == "1000.5");
    CHECK(agg[0]["loss_ratio"] == "0.1");
    CHECK(agg[0]["throughput_bps"] == "");
    CHECK(agg[0]["service_demand_unit"] == "us/transaction");
    CHECK(agg[0]["checks_failed"] == "1");
    CHECK_FALSE(agg[0].contains("repeat"));

    auto reps = rows_by_name(csv_text(run, csv_rows::repeats));
    REQUIRE(reps.size() == 2);
    CHECK(reps[1]["repeat"] == "1");
    CHECK(reps[1]["instance"] == "rr/flows=2");
    CHECK(reps[1]["scenario"] == "rr");
    CHECK(reps[1]["transactions_per_s"] == "1001");
    CHECK(reps[1]["checks_failed"] == "1");
    CHECK_FALSE(reps[1].contains("transactions_per_s_ci95_low"));
}
