#pragma once
/// JSON form of the job spec and of the results (the agent protocol and results.json), driven by
/// one field list per struct (engine/wire/encode.hpp). Keys are the C++ member names; enums are their
/// names ("tcp_rr"); durations are integer ns with a "_ns" suffix ("warmup_ns"). A histogram is
///   {"buckets":[[index,count],...],"min":..,"max":..,"sum":..,"count":..}
/// and round-trips exactly, so the runner can merge histograms from hosts losslessly.
///
/// Decoding is strict: unknown keys, wrong types and out-of-range integers are errors naming the
/// field path ("job.tls.mode: unknown value 'tls9'"); missing keys keep their defaults. decode_*
/// return those errors as values; the nlohmann from_json overloads throw nlohmann::json::other_error.
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"
#include "engine/wire/decode.hpp"
#include "engine/wire/encode.hpp"

namespace kp::engine {

/// Decodes a job spec; the error names the bad field ("job.flows: expected an unsigned integer").
result<job_spec> decode_job(const nlohmann::json& j);
/// Decodes one side's results (what an agent returns).
result<side_result> decode_side_result(const nlohmann::json& j);
/// Decodes a histogram, checking bucket indices and that the counts add up.
result<histogram> decode_histogram(const nlohmann::json& j);

/// The name tables of the enums (as used in JSON and plans), one per enum.
std::span<const wire::enum_name<traffic>> wire_names(traffic);
std::span<const wire::enum_name<direction>> wire_names(direction);
std::span<const wire::enum_name<arrival>> wire_names(arrival);
std::span<const wire::enum_name<crr_close>> wire_names(crr_close);     ///< "server" "reset" "client"
std::span<const wire::enum_name<tls_mode>> wire_names(tls_mode);       ///< "none" "openssl" "ktls" "auto"
std::span<const wire::enum_name<tls_version>> wire_names(tls_version); ///< "1.2" "1.3"
/// "aes-128-gcm" "aes-256-gcm" "chacha20-poly1305": the spelling a plan accepts.
std::span<const wire::enum_name<tls_cipher>> wire_names(tls_cipher);
std::span<const wire::enum_name<placement_rule::kind>> wire_names(placement_rule::kind);
std::span<const wire::enum_name<tls_path>> wire_names(tls_path); ///< "kernel" "user" "none"

std::string_view to_string(traffic v);
std::string_view to_string(direction v);
std::string_view to_string(arrival v);
std::string_view to_string(tls_mode v);
std::string_view to_string(tls_version v);
std::string_view to_string(tls_cipher v);
std::string_view to_string(placement_rule::kind v);
std::string_view to_string(tls_path v);
std::optional<traffic> parse_traffic(std::string_view s);
std::optional<direction> parse_direction(std::string_view s);
std::optional<arrival> parse_arrival(std::string_view s);
std::optional<tls_mode> parse_tls_mode(std::string_view s);
std::optional<tls_version> parse_tls_version(std::string_view s);
std::optional<tls_cipher> parse_tls_cipher(std::string_view s);

// Wire hooks of the types other layers embed in their own wire types (remote/messages.hpp).
nlohmann::json wire_encode(const job_spec& v);
void wire_decode(const nlohmann::json& j, const std::string& path, job_spec& v);
nlohmann::json wire_encode(const side_result& v);
void wire_decode(const nlohmann::json& j, const std::string& path, side_result& v);
nlohmann::json wire_encode(const sample& v); ///< one per-second sample (live samples travel alone)
void wire_decode(const nlohmann::json& j, const std::string& path, sample& v);
nlohmann::json wire_encode(const histogram& v);
void wire_decode(const nlohmann::json& j, const std::string& path, histogram& v);

// nlohmann ADL hooks: json j = spec; spec = j.get<job_spec>();
void to_json(nlohmann::json& j, const job_spec& v);
void from_json(const nlohmann::json& j, job_spec& v);
void to_json(nlohmann::json& j, const placement_rule& v); ///< {"how":"rx","offset":2,"cpus":[]}
void from_json(const nlohmann::json& j, placement_rule& v);
void to_json(nlohmann::json& j, const tls_spec& v);
void from_json(const nlohmann::json& j, tls_spec& v);
void to_json(nlohmann::json& j, const socket_options& v);
void from_json(const nlohmann::json& j, socket_options& v);
void to_json(nlohmann::json& j, const histogram& v);
void from_json(const nlohmann::json& j, histogram& v);
void to_json(nlohmann::json& j, const cpu_time& v);
void from_json(const nlohmann::json& j, cpu_time& v);
void to_json(nlohmann::json& j, const tcp_stats& v);
void from_json(const nlohmann::json& j, tcp_stats& v);
void to_json(nlohmann::json& j, const tls_report& v);
void from_json(const nlohmann::json& j, tls_report& v);
void to_json(nlohmann::json& j, const flow_result& v);
void from_json(const nlohmann::json& j, flow_result& v);
void to_json(nlohmann::json& j, const flow_totals& v);
void from_json(const nlohmann::json& j, flow_totals& v);
void to_json(nlohmann::json& j, const flow_spread& v);
void from_json(const nlohmann::json& j, flow_spread& v);
void to_json(nlohmann::json& j, const worker_summary& v);
void from_json(const nlohmann::json& j, worker_summary& v);
void to_json(nlohmann::json& j, const error_counts& v);
void from_json(const nlohmann::json& j, error_counts& v);
void to_json(nlohmann::json& j, const sample& v);
void from_json(const nlohmann::json& j, sample& v);
void to_json(nlohmann::json& j, const side_result& v);
void from_json(const nlohmann::json& j, side_result& v);

} // namespace kp::engine
