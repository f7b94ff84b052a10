#pragma once
/// JSON of the run record: the results.json document, and the instance objects that are also
/// the lines of results.jsonl. Shape described by schemas/results.schema.json.
#include <nlohmann/json.hpp>

#include "runner/results/record.hpp"

namespace kp::runner {

/// Version of the results document layout; bumped on incompatible changes.
inline constexpr int results_schema_version = 1;

/// The aggregate of one instance: {"metrics": {name: {...}}, "latency_histogram": {...}}.
[[nodiscard]] nlohmann::json aggregate_json(const instance_aggregate& a);
/// One instance with its repeats, aggregate, checks and failure.
[[nodiscard]] nlohmann::json instance_json(const instance_record& r);
/// One host: transport, capabilities, environment, failure.
[[nodiscard]] nlohmann::json host_json(const host_record& h);
/// The whole results.json document.
[[nodiscard]] nlohmann::json run_json(const run_record& r);
/// The first line of results.jsonl: the run header without instances.
[[nodiscard]] nlohmann::json run_header_json(const run_record& r);

} // namespace kp::runner
