#pragma once
/// JSON form of the job spec and of the results (the agent protocol and results.json).
/// Keys are the C++ member names; enums are their names ("tcp_rr"); durations are integer ns
/// with a "_ns" suffix ("warmup_ns"). A histogram is
///   {"buckets":[[index,count],...],"min":..,"max":..,"sum":..,"count":..}
/// and round-trips exactly, so the runner can merge histograms from hosts losslessly.
///
/// Decoding is strict: unknown keys and wrong types are errors naming the field path
/// ("job.tls.mode: unknown value 'tls9'"); missing keys keep their defaults. decode_* return
/// those errors as values; the nlohmann from_json overloads throw nlohmann::json::other_error.
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"
#include "engine/core/job.hpp"
#include "engine/stats/result.hpp"

namespace kp::engine {

/// Decodes a job spec; the error names the bad field ("job.flows: expected an unsigned integer").
result<job_spec> decode_job(const nlohmann::json& j);
/// Decodes one side's results (what an agent returns).
result<side_result> decode_side_result(const nlohmann::json& j);
/// Decodes a histogram, checking bucket indices and that the counts add up.
result<histogram> decode_histogram(const nlohmann::json& j);

/// Enum names as used in JSON and plans.
std::string_view to_string(traffic v);
std::string_view to_string(direction v);
std::string_view to_string(arrival v);
std::string_view to_string(tls_mode v);    ///< "none" "openssl" "ktls" "auto"
std::string_view to_string(tls_version v); ///< "1.2" "1.3"
std::string_view to_string(tls_cipher v);  ///< "aes_128_gcm" "aes_256_gcm" "chacha20_poly1305"
std::string_view to_string(placement_rule::kind v);
std::optional<traffic> parse_traffic(std::string_view s);
std::optional<direction> parse_direction(std::string_view s);
std::optional<arrival> parse_arrival(std::string_view s);
std::optional<tls_mode> parse_tls_mode(std::string_view s);
std::optional<tls_version> parse_tls_version(std::string_view s);
std::optional<tls_cipher> parse_tls_cipher(std::string_view s);

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
void to_json(nlohmann::json& j, const error_counts& v);
void from_json(const nlohmann::json& j, error_counts& v);
void to_json(nlohmann::json& j, const sample& v);
void from_json(const nlohmann::json& j, sample& v);
void to_json(nlohmann::json& j, const side_result& v);
void from_json(const nlohmann::json& j, side_result& v);

} // namespace kp::engine
