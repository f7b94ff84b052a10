#include "engine/wire/codec.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>

#include <fmt/core.h>

namespace kp::engine {

using nlohmann::json;

namespace {

constexpr std::pair<traffic, std::string_view> traffic_names[] = {{traffic::tcp_stream, "tcp_stream"},
                                                                  {traffic::tcp_rr, "tcp_rr"},
                                                                  {traffic::tcp_crr, "tcp_crr"},
                                                                  {traffic::udp_stream, "udp_stream"},
                                                                  {traffic::udp_rr, "udp_rr"}};
constexpr std::pair<direction, std::string_view> direction_names[] = {
    {direction::forward, "forward"}, {direction::reverse, "reverse"}, {direction::bidir, "bidir"}};
constexpr std::pair<arrival, std::string_view> arrival_names[] = {{arrival::constant, "constant"},
                                                                  {arrival::poisson, "poisson"}};
constexpr std::pair<tls_mode, std::string_view> tls_mode_names[] = {{tls_mode::none, "none"},
                                                                    {tls_mode::openssl, "openssl"},
                                                                    {tls_mode::ktls, "ktls"},
                                                                    {tls_mode::automatic, "auto"}};
constexpr std::pair<tls_version, std::string_view> tls_version_names[] = {{tls_version::v1_2, "1.2"},
                                                                          {tls_version::v1_3, "1.3"}};
constexpr std::pair<tls_cipher, std::string_view> tls_cipher_names[] = {
    {tls_cipher::aes_128_gcm, "aes_128_gcm"},
    {tls_cipher::aes_256_gcm, "aes_256_gcm"},
    {tls_cipher::chacha20_poly1305, "chacha20_poly1305"}};
constexpr std::pair<placement_rule::kind, std::string_view> placement_kind_names[] = {
    {placement_rule::kind::any, "any"},
    {placement_rule::kind::rx, "rx"},
    {placement_rule::kind::cpus, "cpus"}};

template <class E, std::size_t N>
std::string_view name_of(const std::pair<E, std::string_view> (&table)[N], E v) {
    for (const auto& [e, name] : table)
        if (e == v) return name;
    return "?";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::pair<E, std::string_view> (&table)[N], std::string_view s) {
    for (const auto& [e, name] : table)
        if (name == s) return e;
    return std::nullopt;
}

// Decoding walks the JSON with the path of the current field. A failure deep inside unwinds to
// the decode_* entry point as this internal exception and comes out as an error value there;
// it never leaves this file.
struct decode_failure {
    std::string message;
};

[[noreturn]] void bad(const std::string& path, std::string_view what) {
    throw decode_failure{fmt::format("{}: {}", path, what)};
}

std::string_view type_name(const json& v) {
    return v.type_name();
}

void read(const json& v, const std::string& path, bool& out) {
    if (!v.is_boolean()) bad(path, fmt::format("expected a boolean, got {}", type_name(v)));
    out = v.get<bool>();
}

template <class T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) void read(const json& v, const std::string& path,
                                                                      T& out) {
    if (v.is_number_unsigned()) {
        const auto n = v.get<std::uint64_t>();
        if (n > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            bad(path, fmt::format("{} is too large", n));
        out = static_cast<T>(n);
    } else if (v.is_number_integer()) {
        // Positive numbers built in C++ (json(int)) are signed even though the parser makes them unsigned.
        const auto n = v.get<std::int64_t>();
        if (std::is_unsigned_v<T> && n < 0) bad(path, fmt::format("expected an unsigned integer, got {}", n));
        if (std::is_signed_v<T> && (n < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                                    n > static_cast<std::int64_t>(std::numeric_limits<T>::max())))
            bad(path, fmt::format("{} is out of range", n));
        if (std::is_unsigned_v<T> &&
            static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(std::numeric_limits<T>::max()))
            bad(path, fmt::format("{} is too large", n));
        out = static_cast<T>(n);
    } else {
        bad(path, fmt::format("expected {}integer, got {}", std::is_unsigned_v<T> ? "an unsigned " : "an ",
                              type_name(v)));
    }
}

void read(const json& v, const std::string& path, double& out) {
    if (!v.is_number()) bad(path, fmt::format("expected a number, got {}", type_name(v)));
    out = v.get<double>();
}

void read(const json& v, const std::string& path, std::string& out) {
    if (!v.is_string()) bad(path, fmt::format("expected a string, got {}", type_name(v)));
    out = v.get<std::string>();
}

void read(const json& v, const std::string& path, std::chrono::nanoseconds& out) {
    std::int64_t ns = 0;
    read(v, path, ns);
    if (ns < 0) bad(path, "a duration cannot be negative");
    out = std::chrono::nanoseconds(ns);
}

template <class E, std::size_t N>
void read_enum(const json& v, const std::string& path, const std::pair<E, std::string_view> (&table)[N],
               E& out) {
    if (!v.is_string()) bad(path, fmt::format("expected a string, got {}", type_name(v)));
    const auto& s = v.get_ref<const std::string&>();
    const auto e = value_of(table, s);
    if (!e) {
        std::string names;
        for (const auto& [_, name] : table)
            names += fmt::format("{}'{}'", names.empty() ? "" : ", ", name);
        bad(path, fmt::format("unknown value '{}' (expected one of {})", s, names));
    }
    out = *e;
}

void read(const json& v, const std::string& p, traffic& o) {
    read_enum(v, p, traffic_names, o);
}
void read(const json& v, const std::string& p, direction& o) {
    read_enum(v, p, direction_names, o);
}
void read(const json& v, const std::string& p, arrival& o) {
    read_enum(v, p, arrival_names, o);
}
void read(const json& v, const std::string& p, tls_mode& o) {
    read_enum(v, p, tls_mode_names, o);
}
void read(const json& v, const std::string& p, tls_version& o) {
    read_enum(v, p, tls_version_names, o);
}
void read(const json& v, const std::string& p, tls_cipher& o) {
    read_enum(v, p, tls_cipher_names, o);
}
void read(const json& v, const std::string& p, placement_rule::kind& o) {
    read_enum(v, p, placement_kind_names, o);
}

// Declared before reader so that its get() finds them (vector<pair> has no ADL into here).
void read(const json& v, const std::string& path, histogram& out);
void read(const json& v, const std::string& path, placement_rule& out);
void read(const json& v, const std::string& path, tls_spec& out);
void read(const json& v, const std::string& path, socket_options& out);
void read(const json& v, const std::string& path, cpu_time& out);
void read(const json& v, const std::string& path, tcp_stats& out);
void read(const json& v, const std::string& path, tls_report& out);
void read(const json& v, const std::string& path, flow_result& out);
void read(const json& v, const std::string& path, error_counts& out);
void read(const json& v, const std::string& path, sample& out);
void read(const json& v, const std::string& path, job_spec& out);
void read(const json& v, const std::string& path, side_result& out);
void read(const json& v, const std::string& path, relay_worker& out);
void read(const json& v, const std::string& path, std::optional<relay_stats>& out);
void read(const json& v, const std::string& path, std::pair<std::uint32_t, std::uint64_t>& out);
template <class T> void read(const json& v, const std::string& path, std::vector<T>& out);

/// An object being decoded: reads the keys it knows and rejects the rest in done().
class reader {
  public:
    reader(const json& j, const std::string& path) : j_(j), path_(path) {
        if (!j.is_object()) bad(path, fmt::format("expected an object, got {}", type_name(j)));
    }
    template <class T> void get(std::string_view key, T& out) {
        known_.push_back(key);
        const auto it = j_.find(key);
        if (it != j_.end()) read(*it, path_ + "." + std::string(key), out);
    }
    void done() const {
        for (const auto& [key, _] : j_.items())
            if (std::ranges::find(known_, std::string_view(key)) == known_.end())
                bad(path_, fmt::format("unknown key '{}'", key));
    }

  private:
    const json& j_;
    const std::string& path_;
    std::vector<std::string_view> known_;
};

template <class T> void read(const json& v, const std::string& path, std::vector<T>& out) {
    if (!v.is_array()) bad(path, fmt::format("expected an array, got {}", type_name(v)));
    out.clear();
    out.resize(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
        read(v[i], fmt::format("{}[{}]", path, i), out[i]);
}

void read(const json& v, const std::string& path, std::pair<std::uint32_t, std::uint64_t>& out) {
    if (!v.is_array() || v.size() != 2) bad(path, "expected [bucket index, count]");
    read(v[0], path + "[0]", out.first);
    read(v[1], path + "[1]", out.second);
}

void read(const json& v, const std::string& path, histogram& out) {
    std::vector<std::pair<std::uint32_t, std::uint64_t>> buckets;
    std::uint64_t min = 0, max = 0, count = 0;
    double sum = 0;
    reader r(v, path);
    r.get("buckets", buckets);
    r.get("min", min);
    r.get("max", max);
    r.get("sum", sum);
    r.get("count", count);
    r.done();
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (buckets[i].first >= histogram::bucket_count())
            bad(fmt::format("{}.buckets[{}]", path, i),
                fmt::format("bucket index {} is out of range (< {})", buckets[i].first,
                            histogram::bucket_count()));
        if (__builtin_add_overflow(total, buckets[i].second, &total))
            bad(path + ".buckets", "counts overflow");
    }
    if (total != count) bad(path, fmt::format("count {} does not match the buckets' total {}", count, total));
    if (count != 0 && min > max) bad(path, fmt::format("min {} is above max {}", min, max));
    out = histogram::from_buckets(buckets, min, max, sum);
}

void read(const json& v, const std::string& path, placement_rule& out) {
    reader r(v, path);
    r.get("how", out.how);
    r.get("offset", out.offset);
    r.get("cpus", out.cpus);
    r.done();
}

void read(const json& v, const std::string& path, tls_spec& out) {
    reader r(v, path);
    r.get("mode", out.mode);
    r.get("version", out.version);
    r.get("cipher", out.cipher);
    r.get("ktls_tx", out.ktls_tx);
    r.get("ktls_rx", out.ktls_rx);
    r.get("peer_fingerprint", out.peer_fingerprint);
    r.done();
}

void read(const json& v, const std::string& path, socket_options& out) {
    reader r(v, path);
    r.get("sndbuf", out.sndbuf);
    r.get("rcvbuf", out.rcvbuf);
    r.get("nodelay", out.nodelay);
    r.get("congestion", out.congestion);
    r.get("max_pacing_rate", out.max_pacing_rate);
    r.get("zerocopy", out.zerocopy);
    r.done();
}

void read(const json& v, const std::string& path, job_spec& out) {
    reader r(v, path);
    r.get("kind", out.kind);
    r.get("dir", out.dir);
    r.get("flows", out.flows);
    r.get("workers", out.workers);
    r.get("write_size", out.write_size);
    r.get("read_size", out.read_size);
    r.get("request_size", out.request_size);
    r.get("response_size", out.response_size);
    r.get("in_flight", out.in_flight);
    r.get("rate", out.rate);
    r.get("arrivals", out.arrivals);
    r.get("timeout_ns", out.timeout);
    r.get("warmup_ns", out.warmup);
    r.get("duration_ns", out.duration);
    r.get("placement", out.placement);
    r.get("distinct_rx", out.distinct_rx);
    r.get("verify", out.verify);
    r.get("histograms", out.histograms);
    r.get("tls", out.tls);
    r.get("sockopts", out.sockopts);
    r.get("token", out.token);
    r.get("id", out.id);
    r.done();
}

void read(const json& v, const std::string& path, cpu_time& out) {
    reader r(v, path);
    r.get("cpu", out.cpu);
    r.get("user", out.user);
    r.get("nice", out.nice);
    r.get("system", out.system);
    r.get("irq", out.irq);
    r.get("softirq", out.softirq);
    r.get("steal", out.steal);
    r.get("idle", out.idle);
    r.done();
}

void read(const json& v, const std::string& path, tcp_stats& out) {
    reader r(v, path);
    r.get("total_retrans", out.total_retrans);
    r.get("reord_seen", out.reord_seen);
    r.get("delivered_ce", out.delivered_ce);
    r.get("rtt_us", out.rtt_us);
    r.get("rttvar_us", out.rttvar_us);
    r.get("snd_cwnd", out.snd_cwnd);
    r.get("delivery_rate", out.delivery_rate);
    r.done();
}

void read(const json& v, const std::string& path, tls_report& out) {
    reader r(v, path);
    r.get("tx_path", out.tx_path);
    r.get("rx_path", out.rx_path);
    r.get("version", out.version);
    r.get("cipher", out.cipher);
    r.get("handshake_s", out.handshake_s);
    r.get("note", out.note);
    r.done();
}

void read(const json& v, const std::string& path, flow_result& out) {
    reader r(v, path);
    r.get("id", out.id);
    r.get("rx_cpu_start", out.rx_cpu_start);
    r.get("rx_cpu_end", out.rx_cpu_end);
    r.get("peer_rx_cpu", out.peer_rx_cpu);
    r.get("app_cpu", out.app_cpu);
    r.get("local_port", out.local_port);
    r.get("remote_port", out.remote_port);
    r.get("bytes_sent", out.bytes_sent);
    r.get("bytes_received", out.bytes_received);
    r.get("transactions", out.transactions);
    r.get("connections", out.connections);
    r.get("datagrams_sent", out.datagrams_sent);
    r.get("datagrams_received", out.datagrams_received);
    r.get("lost", out.lost);
    r.get("reordered", out.reordered);
    r.get("duplicated", out.duplicated);
    r.get("latency", out.latency);
    r.get("tcp", out.tcp);
    r.get("tls", out.tls);
    r.done();
}

void read(const json& v, const std::string& path, error_counts& out) {
    reader r(v, path);
    r.get("connect", out.connect);
    r.get("read", out.read);
    r.get("write", out.write);
    r.get("timeout", out.timeout);
    r.get("rejected_hello", out.rejected_hello);
    r.get("verify", out.verify);
    r.done();
}

void read(const json& v, const std::string& path, sample& out) {
    reader r(v, path);
    r.get("t", out.t);
    r.get("bytes", out.bytes);
    r.get("transactions", out.transactions);
    r.done();
}

void read(const json& v, const std::string& path, side_result& out) {
    reader r(v, path);
    r.get("window_start_ns", out.window_start_ns);
    r.get("window_end_ns", out.window_end_ns);
    r.get("seconds", out.seconds);
    r.get("flows", out.flows);
    r.get("latency", out.latency);
    r.get("connect_latency", out.connect_latency);
    r.get("close_latency", out.close_latency);
    r.get("cpu_total", out.cpu_total);
    r.get("cpus", out.cpus);
    r.get("rusage_user_s", out.rusage_user_s);
    r.get("rusage_system_s", out.rusage_system_s);
    r.get("errors", out.errors);
    r.get("samples", out.samples);
    r.get("placement_note", out.placement_note);
    r.get("ktls_available", out.ktls_available);
    r.get("relay", out.relay);
    r.done();
}

void read(const json& v, const std::string& path, relay_worker& out) {
    reader r(v, path);
    r.get("cpu", out.cpu);
    r.get("connections", out.connections);
    r.get("bytes", out.bytes);
    r.done();
}

void read(const json& v, const std::string& path, std::optional<relay_stats>& out) {
    relay_stats s;
    reader r(v, path);
    r.get("connections", s.connections);
    r.get("bytes_forward", s.bytes_forward);
    r.get("bytes_backward", s.bytes_backward);
    r.get("rx_mismatch", s.rx_mismatch);
    r.get("workers", s.workers);
    r.get("rx_cpus", s.rx_cpus);
    r.done();
    out = std::move(s);
}

template <class T> result<T> decode(const json& j, const std::string& root) {
    try {
        T out{};
        read(j, root, out);
        return out;
    } catch (const decode_failure& f) {
        return fail(f.message);
    }
}

// nlohmann's from_json contract is to throw its own exception types.
template <class T> void decode_or_throw(const json& j, T& out) {
    try {
        T tmp{};
        read(j, "$", tmp);
        out = std::move(tmp);
    } catch (const decode_failure& f) {
        throw json::other_error::create(501, f.message, &j);
    }
}

} // namespace

result<job_spec> decode_job(const json& j) {
    return decode<job_spec>(j, "job");
}
result<side_result> decode_side_result(const json& j) {
    return decode<side_result>(j, "result");
}
result<histogram> decode_histogram(const json& j) {
    return decode<histogram>(j, "histogram");
}

std::string_view to_string(traffic v) {
    return name_of(traffic_names, v);
}
std::string_view to_string(direction v) {
    return name_of(direction_names, v);
}
std::string_view to_string(arrival v) {
    return name_of(arrival_names, v);
}
std::string_view to_string(tls_mode v) {
    return name_of(tls_mode_names, v);
}
std::string_view to_string(tls_version v) {
    return name_of(tls_version_names, v);
}
std::string_view to_string(tls_cipher v) {
    return name_of(tls_cipher_names, v);
}
std::string_view to_string(placement_rule::kind v) {
    return name_of(placement_kind_names, v);
}
std::optional<traffic> parse_traffic(std::string_view s) {
    return value_of(traffic_names, s);
}
std::optional<direction> parse_direction(std::string_view s) {
    return value_of(direction_names, s);
}
std::optional<arrival> parse_arrival(std::string_view s) {
    return value_of(arrival_names, s);
}
std::optional<tls_mode> parse_tls_mode(std::string_view s) {
    return value_of(tls_mode_names, s);
}
std::optional<tls_version> parse_tls_version(std::string_view s) {
    return value_of(tls_version_names, s);
}
std::optional<tls_cipher> parse_tls_cipher(std::string_view s) {
    return value_of(tls_cipher_names, s);
}

void to_json(json& j, const placement_rule& v) {
    j = json{{"how", to_string(v.how)}, {"offset", v.offset}, {"cpus", v.cpus}};
}
void to_json(json& j, const tls_spec& v) {
    j = json{{"mode", to_string(v.mode)},     {"version", to_string(v.version)},
             {"cipher", to_string(v.cipher)}, {"ktls_tx", v.ktls_tx},
             {"ktls_rx", v.ktls_rx},          {"peer_fingerprint", v.peer_fingerprint}};
}
void to_json(json& j, const socket_options& v) {
    j = json{{"sndbuf", v.sndbuf},
             {"rcvbuf", v.rcvbuf},
             {"nodelay", v.nodelay},
             {"congestion", v.congestion},
             {"max_pacing_rate", v.max_pacing_rate},
             {"zerocopy", v.zerocopy}};
}
void to_json(json& j, const job_spec& v) {
    j = json{{"kind", to_string(v.kind)},
             {"dir", to_string(v.dir)},
             {"flows", v.flows},
             {"workers", v.workers},
             {"write_size", v.write_size},
             {"read_size", v.read_size},
             {"request_size", v.request_size},
             {"response_size", v.response_size},
             {"in_flight", v.in_flight},
             {"rate", v.rate},
             {"arrivals", to_string(v.arrivals)},
             {"timeout_ns", v.timeout.count()},
             {"warmup_ns", v.warmup.count()},
             {"duration_ns", v.duration.count()},
             {"placement", v.placement},
             {"distinct_rx", v.distinct_rx},
             {"verify", v.verify},
             {"histograms", v.histograms},
             {"tls", v.tls},
             {"sockopts", v.sockopts},
             {"token", v.token},
             {"id", v.id}};
}
void to_json(json& j, const histogram& v) {
    json buckets = json::array();
    for (const auto& [index, n] : v.buckets())
        buckets.push_back(json::array({index, n}));
    j = json{{"buckets", std::move(buckets)},
             {"min", v.min()},
             {"max", v.max()},
             {"sum", v.sum()},
             {"count", v.count()}};
}
void to_json(json& j, const cpu_time& v) {
    j = json{{"cpu", v.cpu}, {"user", v.user},       {"nice", v.nice},   {"system", v.system},
             {"irq", v.irq}, {"softirq", v.softirq}, {"steal", v.steal}, {"idle", v.idle}};
}
void to_json(json& j, const tcp_stats& v) {
    j = json{{"total_retrans", v.total_retrans}, {"reord_seen", v.reord_seen},
             {"delivered_ce", v.delivered_ce},   {"rtt_us", v.rtt_us},
             {"rttvar_us", v.rttvar_us},         {"snd_cwnd", v.snd_cwnd},
             {"delivery_rate", v.delivery_rate}};
}
void to_json(json& j, const tls_report& v) {
    j = json{{"tx_path", v.tx_path}, {"rx_path", v.rx_path},         {"version", v.version},
             {"cipher", v.cipher},   {"handshake_s", v.handshake_s}, {"note", v.note}};
}
void to_json(json& j, const flow_result& v) {
    j = json{{"id", v.id},
             {"rx_cpu_start", v.rx_cpu_start},
             {"rx_cpu_end", v.rx_cpu_end},
             {"peer_rx_cpu", v.peer_rx_cpu},
             {"app_cpu", v.app_cpu},
             {"local_port", v.local_port},
             {"remote_port", v.remote_port},
             {"bytes_sent", v.bytes_sent},
             {"bytes_received", v.bytes_received},
             {"transactions", v.transactions},
             {"connections", v.connections},
             {"datagrams_sent", v.datagrams_sent},
             {"datagrams_received", v.datagrams_received},
             {"lost", v.lost},
             {"reordered", v.reordered},
             {"duplicated", v.duplicated},
             {"latency", v.latency},
             {"tcp", v.tcp},
             {"tls", v.tls}};
}
void to_json(json& j, const error_counts& v) {
    j = json{{"connect", v.connect},
             {"read", v.read},
             {"write", v.write},
             {"timeout", v.timeout},
             {"rejected_hello", v.rejected_hello},
             {"verify", v.verify}};
}
void to_json(json& j, const sample& v) {
    j = json{{"t", v.t}, {"bytes", v.bytes}, {"transactions", v.transactions}};
}
void to_json(json& j, const side_result& v) {
    j = json{{"window_start_ns", v.window_start_ns},
             {"window_end_ns", v.window_end_ns},
             {"seconds", v.seconds},
             {"flows", v.flows},
             {"latency", v.latency},
             {"connect_latency", v.connect_latency},
             {"close_latency", v.close_latency},
             {"cpu_total", v.cpu_total},
             {"cpus", v.cpus},
             {"rusage_user_s", v.rusage_user_s},
             {"rusage_system_s", v.rusage_system_s},
             {"errors", v.errors},
             {"samples", v.samples},
             {"placement_note", v.placement_note},
             {"ktls_available", v.ktls_available}};
    if (v.relay) { // forwarders only; end hosts' results keep their shape
        json workers = json::array();
        for (const auto& w : v.relay->workers)
            workers.push_back({{"cpu", w.cpu}, {"connections", w.connections}, {"bytes", w.bytes}});
        j["relay"] = {{"connections", v.relay->connections},
                      {"bytes_forward", v.relay->bytes_forward},
                      {"bytes_backward", v.relay->bytes_backward},
                      {"rx_mismatch", v.relay->rx_mismatch},
                      {"workers", workers},
                      {"rx_cpus", v.relay->rx_cpus}};
    }
}

void from_json(const json& j, job_spec& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, placement_rule& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, tls_spec& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, socket_options& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, histogram& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, cpu_time& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, tcp_stats& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, tls_report& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, flow_result& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, error_counts& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, sample& v) {
    decode_or_throw(j, v);
}
void from_json(const json& j, side_result& v) {
    decode_or_throw(j, v);
}

} // namespace kp::engine
