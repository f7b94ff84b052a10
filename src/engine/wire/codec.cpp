#include "engine/wire/codec.hpp"

#include <array>

#include <fmt/core.h>

#include "engine/traffic/traffic.hpp"

namespace kp::engine {

using nlohmann::json;

namespace {

// Kind names come from the descriptor (engine/traffic/traffic.hpp), as everywhere else.
constexpr auto traffic_names = [] {
    std::array<wire::enum_name<traffic>, traffic_count> n{};
    for (std::size_t i = 0; i < traffic_count; ++i)
        n[i] = {traffic_table[i].kind, traffic_table[i].name};
    return n;
}();
constexpr wire::enum_name<direction> direction_names[] = {
    {direction::forward, "forward"}, {direction::reverse, "reverse"}, {direction::bidir, "bidir"}};
constexpr wire::enum_name<arrival> arrival_names[] = {{arrival::constant, "constant"},
                                                      {arrival::poisson, "poisson"}};
constexpr wire::enum_name<crr_close> crr_close_names[] = {
    {crr_close::server, "server"}, {crr_close::reset, "reset"}, {crr_close::client, "client"}};
constexpr wire::enum_name<tls_mode> tls_mode_names[] = {{tls_mode::none, "none"},
                                                        {tls_mode::openssl, "openssl"},
                                                        {tls_mode::ktls, "ktls"},
                                                        {tls_mode::automatic, "auto"}};
constexpr wire::enum_name<tls_version> tls_version_names[] = {{tls_version::v1_2, "1.2"},
                                                              {tls_version::v1_3, "1.3"}};
constexpr wire::enum_name<tls_cipher> tls_cipher_names[] = {
    {tls_cipher::aes_128_gcm, "aes-128-gcm"},
    {tls_cipher::aes_256_gcm, "aes-256-gcm"},
    {tls_cipher::chacha20_poly1305, "chacha20-poly1305"}};
constexpr wire::enum_name<placement_rule::kind> placement_kind_names[] = {
    {placement_rule::kind::any, "any"},
    {placement_rule::kind::rx, "rx"},
    {placement_rule::kind::cpus, "cpus"}};
constexpr wire::enum_name<tls_path> tls_path_names[] = {
    {tls_path::kernel, "kernel"}, {tls_path::user, "user"}, {tls_path::none, "none"}};

} // namespace

std::span<const wire::enum_name<traffic>> wire_names(traffic) {
    return traffic_names;
}
std::span<const wire::enum_name<direction>> wire_names(direction) {
    return direction_names;
}
std::span<const wire::enum_name<arrival>> wire_names(arrival) {
    return arrival_names;
}
std::span<const wire::enum_name<crr_close>> wire_names(crr_close) {
    return crr_close_names;
}
std::span<const wire::enum_name<tls_mode>> wire_names(tls_mode) {
    return tls_mode_names;
}
std::span<const wire::enum_name<tls_version>> wire_names(tls_version) {
    return tls_version_names;
}
std::span<const wire::enum_name<tls_cipher>> wire_names(tls_cipher) {
    return tls_cipher_names;
}
std::span<const wire::enum_name<placement_rule::kind>> wire_names(placement_rule::kind) {
    return placement_kind_names;
}
std::span<const wire::enum_name<tls_path>> wire_names(tls_path) {
    return tls_path_names;
}

// The field lists: each one drives both encoding and decoding (engine/wire/encode.hpp).

template <class V> void fields(placement_rule& x, V&& v) {
    v("how", x.how);
    v("offset", x.offset);
    v("cpus", x.cpus);
}

template <class V> void fields(tls_spec& x, V&& v) {
    v("mode", x.mode);
    v("version", x.version);
    v("cipher", x.cipher);
    v("ktls_tx", x.ktls_tx);
    v("ktls_rx", x.ktls_rx);
    v("peer_fingerprint", x.peer_fingerprint);
}

template <class V> void fields(socket_options& x, V&& v) {
    v("sndbuf", x.sndbuf);
    v("rcvbuf", x.rcvbuf);
    v("nodelay", x.nodelay);
    v("congestion", x.congestion);
    v("max_pacing_rate", x.max_pacing_rate);
    v("zerocopy", x.zerocopy);
}

template <class V> void fields(job_spec& x, V&& v) {
    v("kind", x.kind);
    v("dir", x.dir);
    v("flows", x.flows);
    v("workers", x.workers);
    v("write_size", x.write_size);
    v("read_size", x.read_size);
    v("request_size", x.request_size);
    v("response_size", x.response_size);
    v("in_flight", x.in_flight);
    v("close", x.close);
    v("rate", x.rate);
    v("arrivals", x.arrivals);
    v("timeout_ns", x.timeout);
    v("warmup_ns", x.warmup);
    v("duration_ns", x.duration);
    v("placement", x.placement);
    v("distinct_rx", x.distinct_rx);
    v("verify", x.verify);
    v("histograms", x.histograms);
    v("flow_detail", x.flow_detail);
    v("tls", x.tls);
    v("sockopts", x.sockopts);
    v("token", x.token);
    v("id", x.id);
}

template <class V> void fields(cpu_time& x, V&& v) {
    v("cpu", x.cpu);
    v("user", x.user);
    v("nice", x.nice);
    v("system", x.system);
    v("irq", x.irq);
    v("softirq", x.softirq);
    v("steal", x.steal);
    v("idle", x.idle);
}

template <class V> void fields(tcp_stats& x, V&& v) {
    v("total_retrans", x.total_retrans);
    v("reord_seen", x.reord_seen);
    v("delivered_ce", x.delivered_ce);
    v("rtt_us", x.rtt_us);
    v("rttvar_us", x.rttvar_us);
    v("snd_cwnd", x.snd_cwnd);
    v("delivery_rate", x.delivery_rate);
}

template <class V> void fields(tls_report& x, V&& v) {
    v("tx_path", x.tx_path);
    v("rx_path", x.rx_path);
    v("version", x.version);
    v("cipher", x.cipher);
    v("handshake_s", x.handshake_s);
    v("note", x.note);
}

template <class V> void fields(flow_result& x, V&& v) {
    v("id", x.id);
    v("rx_cpu_start", x.rx_cpu_start);
    v("rx_cpu_end", x.rx_cpu_end);
    v("peer_rx_cpu", x.peer_rx_cpu);
    v("app_cpu", x.app_cpu);
    v("local_port", x.local_port);
    v("remote_port", x.remote_port);
    v("bytes_sent", x.bytes_sent);
    v("bytes_received", x.bytes_received);
    v("transactions", x.transactions);
    v("connections", x.connections);
    v("datagrams_sent", x.datagrams_sent);
    v("datagrams_received", x.datagrams_received);
    v("lost", x.lost);
    v("reordered", x.reordered);
    v("duplicated", x.duplicated);
    v("latency", x.latency);
    v("tcp", x.tcp);
    v("tls", x.tls);
}

template <class V> void fields(flow_totals& x, V&& v) {
    v("flows", x.flows);
    v("bytes_sent", x.bytes_sent);
    v("bytes_received", x.bytes_received);
    v("transactions", x.transactions);
    v("connections", x.connections);
    v("datagrams_sent", x.datagrams_sent);
    v("datagrams_received", x.datagrams_received);
    v("lost", x.lost);
    v("reordered", x.reordered);
    v("duplicated", x.duplicated);
    v("total_retrans", x.total_retrans);
}

template <class V> void fields(flow_spread& x, V&& v) {
    v("min", x.min);
    v("median", x.median);
    v("max", x.max);
    v("fairness", x.fairness);
}

template <class V> void fields(worker_summary& x, V&& v) {
    v("index", x.index);
    v("cpu", x.cpu);
    v("app_cpu", x.app_cpu);
    v("totals", x.totals);
}

template <class V> void fields(error_counts& x, V&& v) {
    v("connect", x.connect);
    v("read", x.read);
    v("write", x.write);
    v("timeout", x.timeout);
    v("rejected_hello", x.rejected_hello);
    v("verify", x.verify);
}

template <class V> void fields(sample& x, V&& v) {
    v("t", x.t);
    v("bytes", x.bytes);
    v("transactions", x.transactions);
    v("latency_p50_us", x.latency_p50_us);
    v("latency_p99_us", x.latency_p99_us);
}

template <class V> void fields(relay_worker& x, V&& v) {
    v("cpu", x.cpu);
    v("connections", x.connections);
    v("bytes", x.bytes);
}

template <class V> void fields(relay_stats& x, V&& v) {
    v("connections", x.connections);
    v("bytes_forward", x.bytes_forward);
    v("bytes_backward", x.bytes_backward);
    v("rx_mismatch", x.rx_mismatch);
    v("workers", x.workers);
    v("rx_cpus", x.rx_cpus);
}

template <class V> void fields(side_result& x, V&& v) {
    v("window_start_ns", x.window_start_ns);
    v("window_end_ns", x.window_end_ns);
    v("seconds", x.seconds);
    v("flows", x.flows);
    v("flows_omitted", x.flows_omitted);
    v("flow_totals", x.totals);
    v("flow_spread", x.spread);
    v("workers", x.workers);
    v("latency", x.latency);
    v("connect_latency", x.connect_latency);
    v("close_latency", x.close_latency);
    v("handshake_latency", x.handshake_latency);
    v("send_lateness", x.send_lateness);
    v("sends_held", x.sends_held);
    v("cpu_total", x.cpu_total);
    v("cpus", x.cpus);
    v("rusage_user_s", x.rusage_user_s);
    v("rusage_system_s", x.rusage_system_s);
    v("errors", x.errors);
    v("samples", x.samples);
    v("placement_note", x.placement_note);
    v("ktls_available", x.ktls_available);
    v("tls_stat", x.tls_stat);
    v("relay", x.relay); // forwarders only; left out when empty, so end hosts' results keep their shape
}

json wire_encode(const histogram& v) {
    json buckets = json::array();
    for (const auto& [index, n] : v.buckets())
        buckets.push_back(json::array({index, n}));
    return json{{"buckets", std::move(buckets)},
                {"min", v.min()},
                {"max", v.max()},
                {"sum", v.sum()},
                {"count", v.count()}};
}

void wire_decode(const json& v, const std::string& path, histogram& out) {
    using wire::bad;
    std::vector<json> pairs;
    std::uint64_t min = 0, max = 0, count = 0;
    double sum = 0;
    wire::reader r(v, path);
    r("buckets", pairs);
    r("min", min);
    r("max", max);
    r("sum", sum);
    r("count", count);
    r.done();
    std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets(pairs.size());
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        const std::string at = fmt::format("{}.buckets[{}]", path, i);
        if (!pairs[i].is_array() || pairs[i].size() != 2) bad(at, "expected [bucket index, count]");
        wire::read(pairs[i][0], at + "[0]", buckets[i].first);
        wire::read(pairs[i][1], at + "[1]", buckets[i].second);
        if (buckets[i].first >= histogram::bucket_count())
            bad(at, fmt::format("bucket index {} is out of range (< {})", buckets[i].first,
                                histogram::bucket_count()));
        if (__builtin_add_overflow(total, buckets[i].second, &total))
            bad(path + ".buckets", "counts overflow");
    }
    if (total != count) bad(path, fmt::format("count {} does not match the buckets' total {}", count, total));
    if (count != 0 && min > max) bad(path, fmt::format("min {} is above max {}", min, max));
    out = histogram::from_buckets(buckets, min, max, sum);
}

json wire_encode(const job_spec& v) {
    return wire::encode_fields(v);
}
void wire_decode(const json& j, const std::string& path, job_spec& v) {
    wire::read_fields(j, path, v);
}
json wire_encode(const side_result& v) {
    return wire::encode_fields(v);
}
void wire_decode(const json& j, const std::string& path, side_result& v) {
    wire::read_fields(j, path, v);
}
json wire_encode(const sample& v) {
    return wire::encode_fields(v);
}
void wire_decode(const json& j, const std::string& path, sample& v) {
    wire::read_fields(j, path, v);
}

result<job_spec> decode_job(const json& j) {
    return wire::decode<job_spec>(j, "job");
}
result<side_result> decode_side_result(const json& j) {
    return wire::decode<side_result>(j, "result");
}
result<histogram> decode_histogram(const json& j) {
    return wire::decode<histogram>(j, "histogram");
}

std::string_view to_string(traffic v) {
    return wire::name_of(v);
}
std::string_view to_string(direction v) {
    return wire::name_of(v);
}
std::string_view to_string(arrival v) {
    return wire::name_of(v);
}
std::string_view to_string(tls_mode v) {
    return wire::name_of(v);
}
std::string_view to_string(tls_version v) {
    return wire::name_of(v);
}
std::string_view to_string(tls_cipher v) {
    return wire::name_of(v);
}
std::string_view to_string(placement_rule::kind v) {
    return wire::name_of(v);
}
std::string_view to_string(tls_path v) {
    return wire::name_of(v);
}
std::optional<traffic> parse_traffic(std::string_view s) {
    return wire::value_of<traffic>(s);
}
std::optional<direction> parse_direction(std::string_view s) {
    return wire::value_of<direction>(s);
}
std::optional<arrival> parse_arrival(std::string_view s) {
    return wire::value_of<arrival>(s);
}
std::optional<tls_mode> parse_tls_mode(std::string_view s) {
    return wire::value_of<tls_mode>(s);
}
std::optional<tls_version> parse_tls_version(std::string_view s) {
    return wire::value_of<tls_version>(s);
}
std::optional<tls_cipher> parse_tls_cipher(std::string_view s) {
    return wire::value_of<tls_cipher>(s);
}

// The nlohmann hooks, one pair per type, all through the field lists above.
#define KP_JSON_HOOKS(T)                                                                                     \
    void to_json(json& j, const T& v) {                                                                      \
        j = wire::encode(v);                                                                                 \
    }                                                                                                        \
    void from_json(const json& j, T& v) {                                                                    \
        wire::decode_or_throw(j, v);                                                                         \
    }
KP_JSON_HOOKS(job_spec)
KP_JSON_HOOKS(placement_rule)
KP_JSON_HOOKS(tls_spec)
KP_JSON_HOOKS(socket_options)
KP_JSON_HOOKS(histogram)
KP_JSON_HOOKS(cpu_time)
KP_JSON_HOOKS(tcp_stats)
KP_JSON_HOOKS(tls_report)
KP_JSON_HOOKS(flow_result)
KP_JSON_HOOKS(flow_totals)
KP_JSON_HOOKS(flow_spread)
KP_JSON_HOOKS(worker_summary)
KP_JSON_HOOKS(error_counts)
KP_JSON_HOOKS(sample)
KP_JSON_HOOKS(side_result)
#undef KP_JSON_HOOKS

} // namespace kp::engine

namespace kp {

// Declared beside the wire machinery (encode.hpp): the core error type knows nothing of JSON.
namespace {
constexpr engine::wire::enum_name<error_kind> error_kind_names[] = {
    {error_kind::usage, "usage"},
    {error_kind::infrastructure, "infrastructure"},
    {error_kind::timeout, "timeout"}};
} // namespace

std::span<const engine::wire::enum_name<error_kind>> wire_names(error_kind) {
    return error_kind_names;
}

} // namespace kp
