#include "engine/core/hello.hpp"

#include <cstring>

namespace kp::engine {

namespace {

constexpr std::uint32_t hello_magic = 0x4b504831; // "KPH1"
constexpr std::uint32_t reply_magic = 0x4b505231; // "KPR1"
constexpr std::uint32_t end_magic = 0x4b505545;   // "KPUE"

void put16(std::byte* p, std::uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v & 0xff);
}
void put32(std::byte* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v & 0xffff));
}
void put64(std::byte* p, std::uint64_t v) {
    put32(p, static_cast<std::uint32_t>(v >> 32));
    put32(p + 4, static_cast<std::uint32_t>(v & 0xffffffff));
}
std::uint16_t get16(const std::byte* p) {
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                      std::to_integer<unsigned>(p[1]));
}
std::uint32_t get32(const std::byte* p) {
    return (std::uint32_t{get16(p)} << 16) | get16(p + 2);
}
std::uint64_t get64(const std::byte* p) {
    return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}

} // namespace

std::vector<std::byte> encode_hello(const hello& h) {
    std::vector<std::byte> out(hello_fixed_size + h.token.size());
    put32(out.data(), hello_magic);
    put16(out.data() + 4, hello_version);
    out[6] = std::byte(static_cast<std::uint8_t>(h.purpose));
    out[7] = std::byte{0};
    put32(out.data() + 8, h.candidate);
    put16(out.data() + 12, h.udp_port);
    put16(out.data() + 14, static_cast<std::uint16_t>(h.token.size()));
    std::memcpy(out.data() + hello_fixed_size, h.token.data(), h.token.size());
    return out;
}

hello_parse parse_hello(std::span<const std::byte> data, const std::string& token, hello& out,
                        std::size_t& consumed) {
    // Judge the magic as soon as it is complete, so garbage is refused without waiting.
    if (data.size() >= 4 && get32(data.data()) != hello_magic) return hello_parse::bad_magic;
    if (data.size() >= 6 && get16(data.data() + 4) != hello_version) return hello_parse::bad_version;
    if (data.size() < hello_fixed_size) return hello_parse::incomplete;
    auto purpose = std::to_integer<std::uint8_t>(data[6]);
    if (purpose > static_cast<std::uint8_t>(hello_purpose::crr)) return hello_parse::bad_field;
    std::size_t token_len = get16(data.data() + 14);
    if (token_len > hello_max_token || token_len != token.size()) return hello_parse::bad_token;
    if (data.size() < hello_fixed_size + token_len) return hello_parse::incomplete;
    if (std::memcmp(data.data() + hello_fixed_size, token.data(), token_len) != 0)
        return hello_parse::bad_token;
    out.purpose = static_cast<hello_purpose>(purpose);
    out.candidate = get32(data.data() + 8);
    out.udp_port = get16(data.data() + 12);
    out.token = token;
    consumed = hello_fixed_size + token_len;
    return hello_parse::ok;
}

const char* describe(hello_parse p) {
    switch (p) {
    case hello_parse::incomplete:
        return "incomplete hello";
    case hello_parse::ok:
        return "ok";
    case hello_parse::bad_magic:
        return "not a kperf-plan hello";
    case hello_parse::bad_version:
        return "unsupported hello version";
    case hello_parse::bad_token:
        return "wrong token";
    case hello_parse::bad_field:
        return "malformed hello";
    }
    return "?";
}

void encode_reply(const hello_reply& r, std::span<std::byte, reply_size> out) {
    put32(out.data(), reply_magic);
    out[4] = std::byte{1};
    out[5] = std::byte{0};
    put16(out.data() + 6, r.udp_port);
    put32(out.data() + 8, static_cast<std::uint32_t>(r.rx_cpu));
}

bool parse_reply(std::span<const std::byte, reply_size> in, hello_reply& out) {
    if (get32(in.data()) != reply_magic || in[4] != std::byte{1}) return false;
    out.udp_port = get16(in.data() + 6);
    out.rx_cpu = static_cast<std::int32_t>(get32(in.data() + 8));
    return true;
}

void encode_decision(const decision& d, std::span<std::byte, decision_size> out) {
    out[0] = std::byte(static_cast<std::uint8_t>(d.what));
    out[1] = std::byte(d.slot);
    put16(out.data() + 2, 0);
    put32(out.data() + 4, d.flow);
    put32(out.data() + 8, static_cast<std::uint32_t>(d.rx_cpu));
}

bool parse_decision(std::span<const std::byte, decision_size> in, decision& out) {
    auto v = std::to_integer<std::uint8_t>(in[0]);
    if (v > static_cast<std::uint8_t>(verdict::abort)) return false;
    out.what = static_cast<verdict>(v);
    out.slot = std::to_integer<std::uint8_t>(in[1]);
    out.flow = get32(in.data() + 4);
    out.rx_cpu = static_cast<std::int32_t>(get32(in.data() + 8));
    return true;
}

void encode_udp_end(std::uint64_t measured_sent, std::span<std::byte, udp_end_size> out) {
    put32(out.data(), end_magic);
    put32(out.data() + 4, 0);
    put64(out.data() + 8, measured_sent);
}

bool parse_udp_end(std::span<const std::byte, udp_end_size> in, std::uint64_t& measured_sent) {
    if (get32(in.data()) != end_magic) return false;
    measured_sent = get64(in.data() + 8);
    return true;
}

} // namespace kp::engine
