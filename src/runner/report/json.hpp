#pragma once
/// JSON of the run record: the results.json document, and the instance objects that are also
/// the lines of results.jsonl. Shape described by schemas/results.schema.json.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runner/results/record.hpp"

namespace kp::runner {

/// Version of the results document layout; bumped on incompatible changes.
inline constexpr int results_schema_version = 1;

/// The aggregate of one instance: {"metrics": {name: {...}}, "latency_histogram": {...}}, each
/// metric's unit that of a `kind` instance (runner/plan/metric.hpp unit_of); a group has no kind.
[[nodiscard]] nlohmann::json aggregate_json(const instance_aggregate& a, std::optional<engine::traffic> kind);
/// One instance with its repeats, aggregate, checks and failure.
[[nodiscard]] nlohmann::json instance_json(const instance_record& r);
/// One host: transport, capabilities, environment, failure.
[[nodiscard]] nlohmann::json host_json(const host_record& h);
/// Everything of results.json but the instances (`"instances": []`): header, status, summary,
/// baseline.
[[nodiscard]] nlohmann::json run_json_frame(const run_record& r);
/// The whole results.json document.
[[nodiscard]] nlohmann::json run_json(const run_record& r);

/// results.json as text, built as the run goes: each finished instance is serialized once, when
/// it ends, and the document is its header, those texts and the summary, so rewriting it after
/// every instance costs no new JSON tree of all instances. text() equals
/// run_json(run).dump(2) (invalid UTF-8 replaced) plus a line break; instances of `run` past the ones add()ed
/// (the skipped ones) are serialized by text() itself.
class results_json_text {
  public:
    /// Keeps the text of the next instance of the run (its instance_json), in run order.
    void add(const nlohmann::json& instance);
    /// The whole document for `run`, whose instances are the ones add()ed.
    [[nodiscard]] std::string text(const run_record& run) const;

  private:
    std::vector<std::string> instances_; ///< each dumped at the depth it sits at in the array
};
/// The first line of results.jsonl: the run header without instances.
[[nodiscard]] nlohmann::json run_header_json(const run_record& r);

} // namespace kp::runner
