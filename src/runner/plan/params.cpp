#include "runner/plan/params.hpp"

#include <array>
#include <cctype>
#include <fmt/format.h>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "engine/wire/codec.hpp"
#include "runner/plan/diagnostics.hpp"

namespace kp::runner {
namespace {

using engine::traffic;
using engine::traffic_info;
// Which kinds a parameter applies to, read off the descriptor rows.
constexpr traffic_mask directional = traffic_where([](const traffic_info& k) { return k.directional; });
constexpr traffic_mask stream = traffic_where([](const traffic_info& k) { return k.stream(); });
constexpr traffic_mask pipelined = traffic_where([](const traffic_info& k) { return k.pipelined; });
constexpr traffic_mask crr = traffic_where([](const traffic_info& k) { return k.crr(); });
constexpr traffic_mask tcp = traffic_where([](const traffic_info& k) { return k.tcp(); });
constexpr traffic_mask lossy_replies =
    traffic_where([](const traffic_info& k) { return k.udp() && !k.stream(); });
constexpr traffic_mask using_size(engine::size_field f) {
    return traffic_where([f](const traffic_info& k) { return k.uses(f); });
}

/// Writes "a, b or c" for the kinds in `mask` to `out` unless it is null; returns the length.
/// One function for the run-time describe() and the compile-time `traffic` description.
constexpr std::size_t write_kinds(traffic_mask mask, char* out) {
    std::size_t total = 0, i = 0, n = 0;
    for (const auto& row : engine::traffic_table)
        total += (mask & mask_of(row.kind)) ? 1 : 0;
    auto put = [&](std::string_view text) {
        for (char c : text) {
            if (out) out[n] = c;
            ++n;
        }
    };
    for (const auto& row : engine::traffic_table) {
        if (!(mask & mask_of(row.kind))) continue;
        if (i > 0) put(i + 1 == total ? " or " : ", ");
        put(row.name);
        ++i;
    }
    return n;
}

/// A description built at compile time around a list of kinds, so the table can hold it.
struct kinds_text {
    std::array<char, 160> chars{};
    std::size_t size = 0;
    [[nodiscard]] constexpr std::string_view view() const { return {chars.data(), size}; }
};

/// `before`, the kinds in `mask` as "a, b or c", then `after`.
constexpr kinds_text with_kinds(std::string_view before, traffic_mask mask, std::string_view after) {
    kinds_text t;
    if (before.size() + write_kinds(mask, nullptr) + after.size() > t.chars.size())
        throw std::length_error("with_kinds: text longer than kinds_text holds"); // a compile error here
    for (char c : before)
        t.chars[t.size++] = c;
    t.size += write_kinds(mask, t.chars.data() + t.size);
    for (char c : after)
        t.chars[t.size++] = c;
    return t;
}

constexpr kinds_text traffic_text = with_kinds("workload: ", all_traffic, "");
constexpr kinds_text timeout_text = with_kinds("", lossy_replies, ": a reply later than this is lost");
constexpr std::uint64_t mib = 1 << 20;

// Order matches enum class param.
constexpr std::array<param_info, param_count> table = {{
    {"traffic", param_kind::traffic, all_traffic, 0, 0, traffic_text.view()},
    {"client", param_kind::host, all_traffic, 0, 0, "host that opens the connections"},
    {"server", param_kind::host, all_traffic, 0, 0, "host that listens"},
    {"direction", param_kind::direction, directional, 0, 0,
     "who sends: forward (client), reverse (server) or bidir"},
    {"flows", param_kind::count, all_traffic, 1, 100000, "number of connections (or UDP flows)"},
    {"workers", param_kind::count, all_traffic, 0, 1024,
     "worker threads per side; 0 = one per flow up to the CPUs"},
    {"write_size", param_kind::size, using_size(engine::uses_write_size), 1, 64 * mib,
     "bytes per write (per datagram for UDP)"},
    {"read_size", param_kind::size, using_size(engine::uses_read_size), 1, 64 * mib, "bytes per read"},
    {"request_size", param_kind::size, using_size(engine::uses_request_size), 1, 64 * mib,
     "bytes per request"},
    {"response_size", param_kind::size, using_size(engine::uses_response_size), 1, 64 * mib,
     "bytes per response"},
    {"message_size", param_kind::size, all_traffic, 1, 64 * mib,
     "request_size and response_size together (rr, crr), or write_size and read_size (streams)"},
    {"in_flight", param_kind::count, pipelined, 1, 65536, "requests pipelined per flow"},
    {"close", param_kind::crr_close, crr, 0, 0,
     "how each connection ends: server (server's FIN, as netperf), reset (client's RST) or client"},
    {"rate", param_kind::rate, all_traffic, 0, 0, "open-loop pacing for the whole job, or unlimited"},
    {"arrival", param_kind::arrival, all_traffic, 0, 0, "arrival process when paced: constant or poisson"},
    {"timeout", param_kind::duration, lossy_replies, 0, 0, timeout_text.view()},
    {"duration", param_kind::duration, all_traffic, 0, 0, "measured time of one run"},
    {"warmup", param_kind::duration, all_traffic, 0, 0, "time before measuring, excluded from all figures"},
    {"repeat", param_kind::count, all_traffic, 1, 1000, "runs of each instance"},
    {"tls", param_kind::tls, tcp, 0, 0, "none, openssl, ktls, auto, or {mode: ktls, tx: bool, rx: bool}"},
    {"tls_version", param_kind::tls_version, tcp, 0, 0, "TLS protocol version: 1.2 or 1.3"},
    {"cipher", param_kind::cipher, tcp, 0, 0, "aes-128-gcm, aes-256-gcm or chacha20-poly1305"},
    {"verify", param_kind::boolean, all_traffic, 0, 0, "check the payload pattern on receive"},
    {"histograms", param_kind::boolean, all_traffic, 0, 0, "record latency histograms"},
    {"flow_detail", param_kind::boolean, all_traffic, 0, 0,
     "report every flow in full; otherwise past 32 flows only the 8 lowest and 8 highest"},
    {"sndbuf", param_kind::size, all_traffic, 0, 1024 * mib, "SO_SNDBUF; 0 = kernel default"},
    {"rcvbuf", param_kind::size, all_traffic, 0, 1024 * mib, "SO_RCVBUF; 0 = kernel default"},
    {"nodelay", param_kind::boolean, tcp, 0, 0, "TCP_NODELAY"},
    {"congestion", param_kind::word, tcp, 0, 0, "TCP_CONGESTION algorithm, e.g. cubic or bbr"},
    {"max_pacing_rate", param_kind::bit_rate, all_traffic, 0, 0, "SO_MAX_PACING_RATE, e.g. 1Gbit/s"},
    {"zerocopy", param_kind::boolean, stream, 0, 0, "MSG_ZEROCOPY on send"},
    {"on_error", param_kind::on_error, all_traffic, 0, 0,
     "continue or abort the plan when an instance fails"},
    {"setup", param_kind::word, all_traffic, 0, 0,
     "the host configuration (a name under 'setups:') applied around the instance"},
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
constexpr auto traffic_names = [] {
    std::array<named<traffic>, engine::traffic_count> n{};
    for (std::size_t i = 0; i < engine::traffic_count; ++i)
        n[i] = {engine::traffic_table[i].name, engine::traffic_table[i].kind};
    return n;
}();
// The engine's enums are spelled in plans as on the wire and in results.json: one name table
// each (engine/wire/codec.hpp). Their arrays are constant-initialized, so these spans are safe at
// static initialization.
template <class E> using wire_list = std::span<const engine::wire::enum_name<E>>;
const wire_list<engine::direction> direction_names = engine::wire_names(engine::direction{});
const wire_list<engine::arrival> arrival_names = engine::wire_names(engine::arrival{});
const wire_list<engine::crr_close> close_names = engine::wire_names(engine::crr_close{});
const wire_list<engine::tls_mode> tls_names = engine::wire_names(engine::tls_mode{});
const wire_list<engine::tls_version> version_names = engine::wire_names(engine::tls_version{});
const wire_list<engine::tls_cipher> cipher_names = engine::wire_names(engine::tls_cipher{});
constexpr named<on_error> on_error_names[] = {{"continue", on_error::continue_run},
                                              {"abort", on_error::abort_run}};

/// The enum type a name list maps to.
template <class List>
using value_of = std::remove_cvref_t<decltype(std::data(std::declval<const List&>())->value)>;

/// "a, b or c"
template <class List> std::string alternatives(const List& list) {
    std::string out;
    const std::size_t n = std::size(list);
    for (std::size_t i = 0; i < n; ++i) {
        if (i > 0) out += i + 1 == n ? " or " : ", ";
        out += list[i].name;
    }
    return out;
}

template <class List> parsed<value_of<List>> parse_enum(std::string_view text, const List& list) {
    std::vector<std::string_view> candidates;
    for (const auto& n : list) {
        if (n.name == text) return n.value;
        candidates.push_back(n.name);
    }
    return std::unexpected(
        fmt::format("expected {}, got '{}'{}", alternatives(list), text, did_you_mean(text, candidates)));
}

template <class List> std::string_view name_in(value_of<List> v, const List& list) {
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
    case param_kind::crr_close:
        return lift(parse_enum(text, close_names));
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
        std::string operator()(engine::crr_close c) const { return std::string(name_of(c)); }
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
    return engine::info(t).name;
}
std::string_view name_of(engine::direction d) {
    return name_in(d, direction_names);
}
std::string_view name_of(engine::arrival a) {
    return name_in(a, arrival_names);
}
std::string_view name_of(engine::crr_close c) {
    return name_in(c, close_names);
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
    std::string out(write_kinds(mask, nullptr), '\0');
    write_kinds(mask, out.data());
    return out;
}

} // namespace kp::runner
