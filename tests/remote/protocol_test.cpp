#include <doctest/doctest.h>

#include "remote/protocol.hpp"

using namespace kp::remote::protocol;
using nlohmann::json;

namespace {

std::string header(std::uint32_t n) {
    return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
            static_cast<char>(n)};
}

} // namespace

TEST_CASE("protocol: frame is a big-endian length and compact JSON") {
    std::string f = encode_frame(json{{"a", 1}});
    CHECK(f == header(7) + R"({"a":1})");
}

TEST_CASE("protocol: decoder reassembles frames fed byte by byte") {
    std::string stream =
        encode_frame(json{{"x", "first"}}) + encode_frame(json::array({1, 2})) + encode_frame(json(3));
    frame_decoder d;
    std::vector<std::string> got;
    for (char c : stream) {
        d.feed(std::string_view(&c, 1));
        for (;;) {
            auto f = d.next();
            REQUIRE(f.has_value());
            if (!*f) break;
            got.push_back(**f);
        }
    }
    CHECK(got == std::vector<std::string>{R"({"x":"first"})", "[1,2]", "3"});
    CHECK(d.pending() == 0);
}

TEST_CASE("protocol: decoder rejects an oversized length and stays failed") {
    frame_decoder d;
    d.feed(header(max_frame + 1) + "{}");
    auto f = d.next();
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error().message == "frame of 16777217 bytes exceeds the limit of 16777216 bytes");
    d.feed(encode_frame(json::object()));
    CHECK_FALSE(d.next().has_value());
}

TEST_CASE("protocol: decoder describes a truncated frame") {
    frame_decoder d;
    d.feed(header(10).substr(0, 3));
    CHECK(d.truncation() == "stream ended after 3 of 4 header bytes");
    d.feed(header(10).substr(3) + "abc");
    CHECK(d.next().value() == std::nullopt);
    CHECK(d.truncation() == "stream ended after 3 of 10 frame bytes");
}

TEST_CASE("protocol: request round-trips") {
    request r;
    r.id = 42;
    r.type = request_type::wait;
    r.timeout = std::chrono::milliseconds(1500);
    r.args = {{"instance", "rr/1"}};
    auto back = parse_request(to_json(r).dump());
    REQUIRE(back.has_value());
    CHECK(back->id == 42);
    CHECK(back->type == request_type::wait);
    CHECK(back->timeout.count() == 1500);
    CHECK(back->args == r.args);
}

TEST_CASE("protocol: request errors are structured and keep the id when readable") {
    auto check = [](std::string_view payload, std::optional<std::uint64_t> id, error_code code,
                    std::string message) {
        auto r = parse_request(payload);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().id == id);
        CHECK(r.error().error.code == code);
        CHECK(r.error().error.message == message);
    };
    check(
        "{\"id\":1,", std::nullopt, error_code::bad_json,
        "malformed JSON: parse error at line 1, column 9: syntax error while parsing object key - unexpected "
        "end of input; expected string literal");
    check("[1]", std::nullopt, error_code::bad_request, "a request is a JSON object, not array");
    check(R"({"type":"hello"})", std::nullopt, error_code::bad_request,
          "field 'id': expected a non-negative integer");
    check(R"({"id":-1,"type":"hello"})", std::nullopt, error_code::bad_request,
          "field 'id': expected a non-negative integer");
    check(R"({"id":3,"type":"dance","timeout_ms":5})", 3, error_code::unknown_type,
          "unknown request type 'dance'");
    check(R"({"id":3,"type":"stop"})", 3, error_code::bad_request,
          "field 'timeout_ms': expected a non-negative integer");
    check(R"({"id":3,"type":"stop","timeout_ms":5,"args":[]})", 3, error_code::bad_request,
          "field 'args': expected an object");
}

TEST_CASE("protocol: reply round-trips, ok and error") {
    reply ok;
    ok.id = 9;
    ok.result = {{"port", 5201}};
    auto a = parse_reply(to_json(ok).dump());
    REQUIRE(a.has_value());
    CHECK(a->id == std::optional<std::uint64_t>(9));
    CHECK(a->ok);
    CHECK(a->result == ok.result);

    reply bad;
    bad.ok = false;
    bad.error = {error_code::busy, "instance 'x' is busy: wait in progress", "start x"};
    auto b = parse_reply(to_json(bad).dump());
    REQUIRE(b.has_value());
    CHECK_FALSE(b->id.has_value());
    CHECK(b->error.code == error_code::busy);
    CHECK(b->error.message == "instance 'x' is busy: wait in progress");
    CHECK(b->error.context == "start x");
    CHECK_FALSE(b->error.consequence);
    CHECK_FALSE(to_json(bad)["error"].contains("consequence")); // older peers read the same frame
}

TEST_CASE("protocol: an error marked as the peer's consequence round-trips as one") {
    reply bad;
    bad.id = 3;
    bad.ok = false;
    bad.error = {error_code::engine,
                 "the client aborted establishing the data connections (its error says why)",
                 "establish rr#0/server", kp::error_kind::infrastructure, true};
    auto b = parse_reply(to_json(bad).dump());
    REQUIRE(b.has_value());
    CHECK(b->error == bad.error);
}

TEST_CASE("protocol: malformed replies are errors") {
    CHECK(parse_reply("nope").error().message == "malformed reply: parse error at line 1, column 2: syntax "
                                                 "error while parsing value - invalid literal; "
                                                 "last read: 'no'");
    CHECK(parse_reply(R"({"ok":true})").error().message == "malformed reply: no field 'id'");
    CHECK(parse_reply(R"({"id":1,"ok":"yes"})").error().message ==
          "malformed reply: field 'ok' is not a boolean");
    CHECK(parse_reply(R"({"id":1,"ok":false})").error().message ==
          "malformed reply: field 'error' is not an object");
}

TEST_CASE("protocol: every request and error name parses back") {
    for (int i = 0; i <= static_cast<int>(request_type::clock); ++i) {
        auto t = static_cast<request_type>(i);
        CHECK(parse_request_type(to_string(t)) == t);
    }
    for (int i = 0; i <= static_cast<int>(error_code::internal); ++i) {
        auto c = static_cast<error_code>(i);
        CHECK(parse_error_code(to_string(c)) == c);
    }
}

TEST_CASE(
    "protocol: a hostile reply (1e6-deep nesting, a number out of range) is a clean error, not a crash") {
    std::string deep =
        R"({"id":1,"ok":true,"result":)" + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
    auto r = parse_reply(deep);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == "malformed reply: nested deeper than 64 levels");
    auto big = parse_reply(R"({"id":1e400,"ok":true})");
    REQUIRE_FALSE(big.has_value());
    CHECK(big.error().message.starts_with("malformed reply: number overflow"));
    // The agent's side of the same: a request that nests too deep is refused with bad_json.
    auto req = parse_request(R"({"id":1,"type":"hello","args":)" + std::string(100, '[') +
                             std::string(100, ']') + "}");
    REQUIRE_FALSE(req.has_value());
    CHECK(req.error().error.code == error_code::bad_json);
    // What the protocol really sends still parses.
    CHECK(parse_reply(R"({"id":2,"ok":true,"result":{"a":[[1,2],[3,4]]}})").has_value());
}
