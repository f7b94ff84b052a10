#include "runner/plan/params.hpp"

#include <array>
#include <cctype>
#include <fmt/format.h>
#include <vector>

#include "runner/plan/diagnostics.hpp"

namespace kp::runner {
namespace {

using engine::traffic;
constexpr traffic_mask stream = mask_of(traffic::tcp_stream) | mask_of(traffic::udp_stream);
constexpr traffic_mask rr = mask_of(traffic::tcp_rr) | mask_of(traffic::tcp_crr) | mask_of(traffic::udp_rr);
constexpr traffic_mask tcp =
    mask_of(traffic::tcp_stream) | mask_of(traffic::tcp_rr) | mask_of(traffic::tcp_crr);
constexpr std::uint64_t mib = 1 << 20;

// Order matches enum class param.
constexpr std::array<param_info, param_count> table = {{
    {"traffic", param_kind::traffic, all_traffic, 0, 0,
     "workload: tcp_stream, tcp_rr, tcp_crr, udp_stream or udp_rr"},
    {"client", param_kind::host, all_traffic, 0, 0, "host that opens the connections"},
    {"server", param_kind::host, all_traffic, 0, 0, "host that listens"},
    {"direction", param_kind::direction, stream, 0, 0,
     "who sends: forward (client), reverse (server) or bidir"},
    {"flows", param_kind::count, all_traffic, 1, 100000, "number of connections (or UDP flows)"},
    {"workers", param_kind::count, all_traffic, 0, 1024,
     "worker threads per side; 0 = one per flow up to the CPUs"},
    {"write_size", param_kind::size, stream, 1, 64 * mib, "bytes per write (per datagram for UDP)"},
    {"read_size", param_kind::size, stream, 1, 64 * mib, "bytes per read"},
    {"request_size", param_kind::size, rr, 1, 64 * mib, "bytes per request"},
    {"response_size", param_kind::size, rr, 1, 64 * mib, "bytes per response"},
    {"in_flight", param_kind::count, mask_of(traffic::tcp_rr) | mask_of(traffic::udp_rr), 1, 65536,
     "requests pipelined per flow"},
    {"rate", param_kind::rate, all_traffic, 0, 0, "open-loop pacing for the whole job, or unlimited"},
    {"arrival", param_kind::arrival, all_traffic, 0, 0, "arrival process when paced: constant or poisson"},
    {"timeout", param_kind::duration, mask_of(traffic::udp_rr), 0, 0,
     "udp_rr: a reply later than this is lost"},
    {"duration", param_kind::duration, all_traffic, 0, 0, "measured time of one run"},
    {"warmup", param_kind::duration, all_traffic, 0, 0, "time before measuring, excluded from all figures"},
    {"repeat", param_kind::count, all_traffic, 1, 1000, "runs of each instance"},
    {"tls", param_kind::tls, tcp, 0, 0, "none, openssl, ktls, auto, or {mode: ktls, tx: bool, rx: bool}"},
    {"tls_version", param_kind::tls_version, tcp, 0, 0, "TLS protocol version: 1.2 or 1.3"},
    {"cipher", param_kind::cipher, tcp, 0, 0, "aes-128-gcm, aes-256-gcm or chacha20-poly1305"},
    {"verify", param_kind::boolean, all_traffic, 0, 0, "check the payload pattern on receive"},
    {"histograms", param_kind::boolean, all_traffic, 0, 0, "record latency histograms"},
    {"sndbuf", param_kind::size, all_traffic, 0, 1024 * mib, "SO_SNDBUF; 0 = kernel default"},
    {"rcvbuf", param_kind::size, all_traffic, 0, 1024 * mib, "SO_RCVBUF; 0 = kernel default"},
    {"nodelay", param_kind::boolean, tcp, 0, 0, "TCP_NODELAY"},
    {"congestion", param_kind::word, tcp, 0, 0, "TCP_CONGESTION algorithm, e.g. cubic or bbr"},
    {"max_pacing_rate", param_kind::bit_rate, all_traffic, 0, 0, "SO_MAX_PACING_RATE, e.g. 1Gbit/s"},
    {"zerocopy", param_kind::boolean, stream, 0, 0, "MSG_ZEROCOPY on send"},
    {"on_error", param_kind::on_error, all_traffic, 0, 0,
     "continue or abort the plan when an instance fails"},
}};

constexpr auto names = [] {
    std::array<std::string_view, param_count> n{};
    for (std::size_t i = 0; i < param_count; ++i)
        n[i] = table[i].name;
    return n;
}();

template <class E> struct named {
    std::string_view name;
    E value;
};
constexpr named<traffic> traffic_names[] = {{"tcp_stream", traffic::tcp_stream},
                                            {"tcp_rr", traffic::tcp_rr},
                                            {"tcp_crr", traffic::tcp_crr},
                                            {"udp_stream", traffic::udp_stream},
                                            {"udp_rr", traffic::udp_rr}};
constexpr named<engine::direction> direction_names[] = {{"forward", engine::direction::forward},
                                                        {"reverse", engine::direction::reverse},
                                                        {"bidir", engine::direction::bidir}};
constexpr named<engine::arrival> arrival_names[] = {{"constant", engine::arrival::constant},
                                                    {"poisson", engine::arrival::poisson}};
constexpr named<engine::tls_mode> tls_names[] = {{"none", engine::tls_mode::none},
                                                 {"openssl", engine::tls_mode::openssl},
                                                 {"ktls", engine::tls_mode::ktls},
                                                 {"auto", engine::tls_mode::automatic}};
constexpr named<engine::tls_version> version_names[] = {{"1.2", engine::tls_version::v1_2},
                                                        {"1.3", engine::tls_version::v1_3}};
constexpr named<engine::tls_cipher> cipher_names[] = {
    {"aes-128-gcm", engine::tls_cipher::aes_128_gcm},
    {"aes-256-gcm", engine::tls_cipher::aes_256_gcm},
    {"chacha20-poly1305", engine::tls_cipher::chacha20_poly1305}};
constexpr named<on_error> on_error_names[] = {{"continue", on_error::continue_run},
                                              {"abort", on_error::abort_run}};

/// "a, b or c"
template <class E, std::size_t N> std::string alternatives(const named<E> (&list)[N]) {
    std::string out;
    for (std::size_t i = 0; i < N; ++i) {
        if (i > 0) out += i + 1 == N ? " or " : ", ";
        out += list[i].name;
    }
    return out;
}

template <class E, std::size_t N> parsed<E> parse_enum(std::string_view text, const named<E> (&list)[N]) {
    std::vector<std::string_view> candidates;
    for (const auto& n : list) {
        if (n.name == text) return n.value;
        candidates.push_back(n.name);
    }
    return std::unexpected(
        fmt::format("expected {}, got '{}'{}", alternatives(list), text, did_you_mean(text, candidates)));
}

template <class E, std::size_t N> std::string_view name_in(E v, const named<E> (&list)[N]) {
    for (const auto& n : list)
        if (n.value == v) return n.name;
    return "?";
}

bool is_word(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

parsed<param_value> bounded(const param_info& pi, parsed<std::uint64_t> v, std::string_view text) {
    if (!v) return std::unexpected(v.error());
    if (*v < pi.min || *v > pi.max)
        return std::unexpected(
            fmt::format("{} must be from {} to {}, got '{}'", pi.name,
                        pi.kind == param_kind::size ? format_size(pi.min) : fmt::format("{}", pi.min),
                        pi.kind == param_kind::size ? format_size(pi.max) : fmt::format("{}", pi.max), text));
    return param_value(*v);
}

} // namespace

const param_info& info(param p) {
    return table.at(static_cast<std::size_t>(p));
}

std::optional<param> param_from_name(std::string_view name) {
    for (std::size_t i = 0; i < param_count; ++i)
        if (table[i].name == name) return static_cast<param>(i);
    return std::nullopt;
}

std::span<const std::string_view> param_names() {
    return names;
}

parsed<param_value> parse_param(param p, std::string_view text) {
    const auto& pi = info(p);
    auto lift = [](auto r) -> parsed<param_value> {
        if (!r) return std::unexpected(r.error());
        return param_value(*r);
    };
    switch (pi.kind) {
    case param_kind::count:
        return bounded(pi, parse_count(text, pi.max), text);
    case param_kind::size:
        return bounded(pi, parse_size(text), text);
    case param_kind::duration:
        return lift(parse_duration(text));
    case param_kind::rate:
        return lift(parse_rate(text));
    case param_kind::bit_rate:
        return lift(parse_bit_rate(text));
    case param_kind::boolean:
        if (text == "true") return param_value(true);
        if (text == "false") return param_value(false);
        return std::unexpected(fmt::format("expected true or false, got '{}'", text));
    case param_kind::host:
    case param_kind::word:
        if (!is_word(text))
            return std::unexpected(
                fmt::format("expected a name (letters, digits, '_', '-', '.'), got '{}'", text));
        return param_value(std::string(text));
    case param_kind::traffic:
        return lift(parse_enum(text, traffic_names));
    case param_kind::direction:
        return lift(parse_enum(text, direction_names));
    case param_kind::arrival:
        return lift(parse_enum(text, arrival_names));
    case param_kind::tls: {
        auto m = parse_enum(text, tls_names);
        if (!m) return std::unexpected(m.error());
        return param_value(tls_setting{*m});
    }
    case param_kind::tls_version:
        return lift(parse_enum(text, version_names));
    case param_kind::cipher:
        return lift(parse_enum(text, cipher_names));
    case param_kind::on_error:
        return lift(parse_enum(text, on_error_names));
    }
    return std::unexpected(std::string("unhandled parameter kind"));
}

std::string format_param(param p, const param_value& v) {
    struct visitor {
        param_kind kind;
        std::string operator()(std::uint64_t n) const {
            return kind == param_kind::size ? format_size(n) : fmt::format("{}", n);
        }
        std::string operator()(double bps) const { return format_rate({rate::unit::bits_per_second, bps}); }
        std::string operator()(std::chrono::nanoseconds d) const { return format_duration(d); }
        std::string operator()(const rate& r) const { return format_rate(r); }
        std::string operator()(bool b) const { return b ? "true" : "false"; }
        std::string operator()(const std::string& s) const { return s; }
        std::string operator()(traffic t) const { return std::string(name_of(t)); }
        std::string operator()(engine::direction d) const { return std::string(name_of(d)); }
        std::string operator()(engine::arrival a) const { return std::string(name_of(a)); }
        std::string operator()(const tls_setting& t) const {
            if (t.mode != engine::tls_mode::ktls || (t.tx && t.rx)) return std::string(name_of(t.mode));
            return fmt::format("ktls(tx={},rx={})", t.tx, t.rx);
        }
        std::string operator()(engine::tls_version x) const { return std::string(name_of(x)); }
        std::string operator()(engine::tls_cipher c) const { return std::string(name_of(c)); }
        std::string operator()(on_error e) const { return std::string(name_of(e)); }
    };
    return std::visit(visitor{info(p).kind}, v);
}

std::string_view name_of(traffic t) {
    return name_in(t, traffic_names);
}
std::string_view name_of(engine::direction d) {
    return name_in(d, direction_names);
}
std::string_view name_of(engine::arrival a) {
    return name_in(a, arrival_names);
}
std::string_view name_of(engine::tls_mode m) {
    return name_in(m, tls_names);
}
std::string_view name_of(engine::tls_version v) {
    return name_in(v, version_names);
}
std::string_view name_of(engine::tls_cipher c) {
    return name_in(c, cipher_names);
}
std::string_view name_of(on_error e) {
    return name_in(e, on_error_names);
}

std::string describe(traffic_mask mask) {
    std::vector<std::string_view> kinds;
    for (const auto& n : traffic_names)
        if (mask & mask_of(n.value)) kinds.push_back(n.name);
    std::string out;
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        if (i > 0) out += i + 1 == kinds.size() ? " or " : ", ";
        out += kinds[i];
    }
    return out;
}

} // namespace kp::runner
