#include <doctest/doctest.h>

#include <string>

#include "runner/report/json.hpp"

using namespace kp;
using namespace kp::runner;

namespace {

std::string reference(const run_record& run) {
    return run_json(run).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

instance_record instance(const std::string& id, instance_status status) {
    instance_record r;
    r.id = id;
    r.scenario = "rr \"quoted\"\n\xff"; // escapes, a line break and invalid UTF-8 in a string
    r.kind = engine::traffic::tcp_rr;
    r.parameters = {{"flows", "64"}};
    r.status = status;
    repeat_record rep;
    rep.metrics[static_cast<std::size_t>(metric::transactions_per_s)] = 1234.5;
    rep.client.flows.resize(3);
    rep.client.workers.resize(2);
    rep.client.latency.record(50'000);
    rep.server.flows_omitted = 7;
    rep.clock_offset_ns["a"] = -1500;
    rep.clock_uncertainty_ns["a"] = 24'000;
    r.repeats.push_back(rep);
    r.checks.push_back(
        {"latency_p99", comparison::lt, 800, "< 800us", std::optional<double>(85.2), std::nullopt, true});
    return r;
}

} // namespace

TEST_CASE("report json: the text built instance by instance is run_json's dump") {
    run_record run;
    run.plan_name = "p";
    run.plan_text = "version: 1\n";
    run.plan = nlohmann::json{{"hosts", nlohmann::json::array()}, {"instances", nlohmann::json::array()}};
    run.started_at = "2026-12-02T00:00:00Z";
    run.hosts.push_back({.name = "a", .transport = "local"});
    results_json_text text;
    CHECK(text.text(run) == reference(run)); // no instance yet: "instances": []
    for (int i = 0; i < 3; ++i) {
        run.instances.push_back(instance("rr/" + std::to_string(i), instance_status::ok));
        text.add(instance_json(run.instances.back()));
        CHECK(text.text(run) == reference(run));
    }
    // Skipped instances are never add()ed; the text serializes them itself.
    run.instances.push_back(instance("rr/3", instance_status::skipped));
    run.status = run_status::aborted;
    CHECK(nlohmann::json::parse(text.text(run))["exit_code"].is_null()); // not ended yet
    run.finished_at = "2026-12-02T00:00:09Z";
    run.exit_code = 3;
    CHECK(text.text(run) == reference(run));
    CHECK(nlohmann::json::parse(text.text(run))["exit_code"] == 3);
    CHECK(nlohmann::json::parse(text.text(run))["instances"].size() == 4);
}

TEST_CASE("report json: a repeat carries each host's clock offset and its uncertainty") {
    auto j = instance_json(instance("rr/0", instance_status::ok));
    const auto& rep = j["repeats"][0];
    CHECK(rep["clock_offset_ns"] == nlohmann::json{{"a", -1500}});
    CHECK(rep["clock_uncertainty_ns"] == nlohmann::json{{"a", 24'000}});
}

TEST_CASE("json: the service demand unit is the one of the instance's kind") {
    metric_values v;
    v[static_cast<std::size_t>(metric::client_service_demand)] = 12.5;
    v[static_cast<std::size_t>(metric::latency_p99)] = 85;
    const metric_values values[] = {v};
    const engine::histogram latencies[1];
    const auto agg = aggregate_repeats(values, latencies);
    auto unit = [&](std::optional<engine::traffic> kind, const char* m) {
        return aggregate_json(agg, kind)["metrics"][m]["unit"].get<std::string>();
    };
    CHECK(unit(engine::traffic::tcp_rr, "client_service_demand") == "us/transaction");
    CHECK(unit(engine::traffic::tcp_crr, "client_service_demand") == "us/transaction");
    CHECK(unit(engine::traffic::udp_stream, "client_service_demand") == "s/GB");
    CHECK(unit(engine::traffic::tcp_stream, "latency_p99") == "us");
}
