#pragma once
/// The control protocol between runner and agent: length-delimited JSON frames over the agent's
/// stdin/stdout. A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
/// Requests:  {"id":7,"type":"listen","timeout_ms":5000,"args":{...}}
/// Replies:   {"id":7,"ok":true,"result":{...}}
///            {"id":7,"ok":false,"error":{"code":"bad_request","kind":"infrastructure",
///                                        "message":"...","context":"..."}}
/// A reply to a frame whose id could not be read carries "id":null. The arguments and results
/// of each request are typed in remote/messages.hpp. See docs/agent.md.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/core/error.hpp"

namespace kp::remote::protocol {

/// Bumped on any incompatible change; the hello request and reply keep their shape forever.
// 2: error kinds; cipher names as in plans ("aes-128-gcm"). 3: the clock request, start's at_ns
// (the runner needs both of every agent). 4: the samples request (run -i). 5: setup_apply and
// setup_restore, the setup_failed code (a plan with setups needs them of every agent it names).
// 6: the ping request and hello's keepalive_ms (remote/keepalive.hpp; an agent of 5 would refuse
// the hello's new key).
inline constexpr int version = 6;
/// Bytes of the length prefix.
inline constexpr std::size_t header_size = 4;
/// Largest frame either side accepts; a longer length prefix means the stream is garbage.
inline constexpr std::size_t max_frame = 16u << 20;

/// The typed requests.
enum class request_type : std::uint8_t {
    hello,
    environment,
    listen,
    connect,
    establish,
    start,
    wait,
    stop,
    collect,
    release,
    shutdown,
    forward,     ///< a forwarder: listens on args.bind, relays to args.next (engine/forwarder/forwarder.hpp)
    clock,       ///< the host's CLOCK_REALTIME (remote/clock.hpp estimates the offset from it)
    samples,     ///< a running instance's per-second samples so far (`run -i`)
    setup_apply, ///< apply a setup (sysctl, irq_affinity, run), saving what it changes (remote/setup.hpp)
    setup_restore, ///< put a setup back; the agent also does so when its control stream closes
    ping           ///< a keepalive probe, answered {} (remote/keepalive.hpp)
};
[[nodiscard]] std::string_view to_string(request_type t);
[[nodiscard]] std::optional<request_type> parse_request_type(std::string_view s);

/// Why a request failed, as the runner sees it.
enum class error_code : std::uint8_t {
    bad_frame,        ///< length prefix too large or stream ended mid-frame (stream is closed)
    bad_json,         ///< the frame is not JSON
    bad_request,      ///< JSON, but not a valid request (missing/mistyped field)
    unknown_type,     ///< "type" names no request
    version_mismatch, ///< hello with another protocol version
    no_hello,         ///< a request before a successful hello
    no_such_instance, ///< the instance was never created or was released
    instance_exists,  ///< listen/connect on an instance that exists
    busy,             ///< a long operation (establish, wait) is running on the instance
    bad_state,        ///< e.g. start before establish
    timeout,          ///< the request's timeout passed
    engine,           ///< the engine failed (sockets, TLS, pinning)
    internal,         ///< a bug in the agent (an exception); the agent stays up
    setup_failed,     ///< a setup step failed (the message names it); what it had done is undone
};
[[nodiscard]] std::string_view to_string(error_code c);
[[nodiscard]] std::optional<error_code> parse_error_code(std::string_view s);

/// The kind of an error_code when the failure itself carries none (the engine's errors do).
[[nodiscard]] error_kind kind_of(error_code c);

/// A structured error as it travels on the wire. Decisions go by `code` and `kind`, never by
/// the message, which is for people.
struct wire_error {
    error_code code = error_code::internal;
    std::string message;
    std::string context; ///< what the agent was doing ("establish rr/1")
    error_kind kind = error_kind::infrastructure;
    /// Only a consequence of the peer side's failure (kp::error::consequence); on the wire only
    /// when true, so older peers read the same frames.
    bool consequence = false;
    friend bool operator==(const wire_error&, const wire_error&) = default;
};

/// One request.
struct request {
    std::uint64_t id = 0;
    request_type type = request_type::hello;
    std::chrono::milliseconds timeout{0};
    nlohmann::json args = nlohmann::json::object();
};

/// One reply: either `result` (ok) or `error`.
struct reply {
    std::optional<std::uint64_t> id; ///< empty: the request's id was unreadable
    bool ok = true;
    nlohmann::json result = nlohmann::json::object();
    wire_error error;
};

/// A request that could not be parsed: the error to send back, with the id when it was readable.
struct request_error {
    std::optional<std::uint64_t> id;
    wire_error error;
};

/// Frames `message` (length prefix + compact JSON). Throws nothing; invalid UTF-8 is replaced.
[[nodiscard]] std::string encode_frame(const nlohmann::json& message);
[[nodiscard]] nlohmann::json to_json(const request& r);
[[nodiscard]] nlohmann::json to_json(const reply& r);
/// Parses one frame's payload as a request.
[[nodiscard]] std::expected<request, request_error> parse_request(std::string_view payload);
/// Parses one frame's payload as a reply; the error says what is wrong with it.
[[nodiscard]] result<reply> parse_reply(std::string_view payload);

/// Splits a byte stream into frame payloads. Feed it what arrives, then pull frames.
class frame_decoder {
  public:
    /// Appends received bytes.
    void feed(std::span<const std::byte> bytes);
    void feed(std::string_view bytes);
    /// The next complete payload, nothing when more bytes are needed, or an error when the
    /// stream cannot be trusted any more (oversized length). After an error it stays failed.
    [[nodiscard]] result<std::optional<std::string>> next();
    /// Bytes of an incomplete frame held back (non-zero at end of stream: a truncated frame).
    [[nodiscard]] std::size_t pending() const { return buffer_.size() - start_; }
    /// Describes a truncated frame at end of stream ("stream ended after 3 of 4 header bytes").
    [[nodiscard]] std::string truncation() const;

  private:
    std::string buffer_;
    std::size_t start_ = 0; // consumed prefix, compacted lazily
    bool failed_ = false;
};

} // namespace kp::remote::protocol
