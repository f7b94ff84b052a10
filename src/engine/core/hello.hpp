#pragma once
/// The data-connection hello: the first bytes a client sends on every data connection, so the
/// server admits only connections of this run (token) and knows which flow each one is.
///
///   client -> server  hello    magic "KPH1" | version u16 | purpose u8 | 0 u8 | candidate u32 |
///                              udp_port u16 | token_len u16 | token bytes          (big-endian)
///   server -> client  reply    magic "KPR1" | status u8 | 0 u8 | udp_port u16 | rx_cpu i32
///   client -> server  decision verdict u8 (drop/keep/abort) | slot u8 | 0 u16 | flow u32 | rx_cpu i32
///
/// tcp_crr sends only the hello, followed at once by the request: the response is the reply.
/// UDP kinds use the TCP connection as the flow's control channel: the hello carries the client's
/// UDP port, the reply the server's, and at the end each sender writes a udp_end on it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kp::engine {

inline constexpr std::uint16_t hello_version = 1;
inline constexpr std::size_t hello_fixed_size = 16;
inline constexpr std::size_t hello_max_token = 256;
inline constexpr std::size_t reply_size = 12;
inline constexpr std::size_t decision_size = 12;
inline constexpr std::size_t udp_end_size = 16;
/// How soon after accept a data connection's hello must be complete, on every data path
/// (the acceptor's and tcp_crr's); a server may be given another (listen_options).
inline constexpr std::chrono::nanoseconds default_hello_timeout = std::chrono::seconds(3);

/// What a connection is for.
enum class hello_purpose : std::uint8_t { data = 0, crr = 1 };

/// The client's hello.
struct hello {
    hello_purpose purpose = hello_purpose::data;
    std::uint32_t candidate = 0; ///< client-chosen connection number (tcp_crr: the flow id)
    std::uint16_t udp_port = 0;  ///< UDP kinds: the client's UDP port
    std::string token;
};

/// Serializes a hello.
std::vector<std::byte> encode_hello(const hello& h);

/// The outcome of parsing a (possibly partial) hello.
enum class hello_parse : std::uint8_t { incomplete, ok, bad_magic, bad_version, bad_token, bad_field };
/// Parses a hello at the start of `data` and checks its token against `token`; with ok,
/// `consumed` is its length.
hello_parse parse_hello(std::span<const std::byte> data, const std::string& token, hello& out,
                        std::size_t& consumed);
/// Why a hello was refused, for diagnostics.
const char* describe(hello_parse p);

/// The server's reply to a valid hello.
struct hello_reply {
    std::uint16_t udp_port = 0;
    std::int32_t rx_cpu = -1; ///< the server's SO_INCOMING_CPU for this connection
};
void encode_reply(const hello_reply& r, std::span<std::byte, reply_size> out);
/// False when the magic or status is wrong.
bool parse_reply(std::span<const std::byte, reply_size> in, hello_reply& out);

/// The client's verdict on a candidate connection.
enum class verdict : std::uint8_t { drop = 0, keep = 1, abort = 2 };
struct decision {
    verdict what = verdict::keep;
    std::uint8_t slot = 0; ///< bidir: 0 carries client->server, 1 server->client
    std::uint32_t flow = 0;
    std::int32_t rx_cpu = -1; ///< the client's SO_INCOMING_CPU for this connection
};
void encode_decision(const decision& d, std::span<std::byte, decision_size> out);
/// False for an unknown verdict.
bool parse_decision(std::span<const std::byte, decision_size> in, decision& out);

/// A UDP sender's closing note: how many datagrams it sent inside its measurement window.
void encode_udp_end(std::uint64_t measured_sent, std::span<std::byte, udp_end_size> out);
bool parse_udp_end(std::span<const std::byte, udp_end_size> in, std::uint64_t& measured_sent);

} // namespace kp::engine
