// `kperf-plan agent` as a real process, fed hand-made frames: bad input gets structured errors
// and never kills the agent.
#include <doctest/doctest.h>

#include <ctime>

#include "agent_fixture.hpp"

using namespace kp::remote;
using namespace kp::remote::test;
using nlohmann::json;

namespace {

std::string header(std::uint32_t n) {
    return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
            static_cast<char>(n)};
}

json req(std::uint64_t id, const char* type, json args = json::object()) {
    return {{"id", id}, {"type", type}, {"timeout_ms", 1000}, {"args", std::move(args)}};
}

void check_error(const std::optional<protocol::reply>& r, std::optional<std::uint64_t> id,
                 protocol::error_code code, const std::string& message) {
    REQUIRE(r.has_value());
    CHECK(r->id == id);
    CHECK_FALSE(r->ok);
    CHECK(protocol::to_string(r->error.code) == protocol::to_string(code));
    CHECK(r->error.message == message);
}

} // namespace

TEST_CASE("agent: a hello with another protocol version names both versions") {
    raw_agent a;
    a.send(req(1, "hello", {{"protocol", 99}}));
    check_error(a.next(), 1, protocol::error_code::version_mismatch,
                "protocol version mismatch: runner speaks 99, agent speaks 6");
    a.send(req(2, "listen", {{"instance", "x"}}));
    check_error(a.next(), 2, protocol::error_code::no_hello, "expected a hello request first");
}

TEST_CASE("agent: malformed requests get structured errors and the agent stays up") {
    raw_agent a;
    a.greet();
    a.send_bytes(protocol::encode_frame(json::array()) + header(4) + "{bad");
    check_error(a.next(), std::nullopt, protocol::error_code::bad_request,
                "a request is a JSON object, not array");
    check_error(
        a.next(), std::nullopt, protocol::error_code::bad_json,
        "malformed JSON: parse error at line 1, column 2: syntax error while parsing object key - invalid "
        "literal; last read: '{b'; expected string literal");
    a.send_bytes(header(0));
    check_error(
        a.next(), std::nullopt, protocol::error_code::bad_json,
        "malformed JSON: parse error at line 1, column 1: syntax error while parsing value - unexpected end "
        "of input; expected '[', '{', or a literal");
    a.send(req(3, "teleport"));
    check_error(a.next(), 3, protocol::error_code::unknown_type, "unknown request type 'teleport'");
    a.send(req(4, "listen", {{"instance", "x"}}));
    check_error(a.next(), 4, protocol::error_code::bad_request, "args.bind: missing");
    a.send(req(5, "listen",
               {{"instance", "x"}, {"bind", {{"address", "127.0.0.1"}}}, {"job", {{"flows", "many"}}}}));
    check_error(a.next(), 5, protocol::error_code::bad_request,
                "args.job.flows: expected an unsigned integer, got string");
    a.send(req(6, "start", {{"instance", "nope"}}));
    check_error(a.next(), 6, protocol::error_code::no_such_instance, "no instance 'nope'");
    a.send(req(7, "wait", {{"instance", 7}}));
    check_error(a.next(), 7, protocol::error_code::bad_request,
                "args.instance: expected a string, got number");
    a.send(req(9, "start", {{"instance", "nope"}, {"at_ns", "soon"}}));
    check_error(a.next(), 9, protocol::error_code::bad_request,
                "args.at_ns: expected an integer, got string");
    a.send(req(10, "start", {{"at_ns", 1}}));
    check_error(a.next(), 10, protocol::error_code::bad_request, "args.instance: missing");

    // Still in sync and serving.
    a.send(req(8, "environment"));
    auto r = a.next();
    REQUIRE(r.has_value());
    CHECK(r->id == std::optional<std::uint64_t>(8));
    CHECK(r->ok);
    CHECK(r->result.contains("sysctls"));
    // clock: the host's CLOCK_REALTIME, and nothing else.
    timespec before{}, after{};
    clock_gettime(CLOCK_REALTIME, &before);
    a.send(req(11, "clock"));
    auto c = a.next();
    clock_gettime(CLOCK_REALTIME, &after);
    REQUIRE(c.has_value());
    REQUIRE(c->ok);
    CHECK(c->result.size() == 1);
    auto ns = [](const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
    CHECK(c->result.at("realtime_ns").get<std::int64_t>() >= ns(before));
    CHECK(c->result.at("realtime_ns").get<std::int64_t>() <= ns(after));
}

TEST_CASE("agent: an oversized frame length gets an error, then the agent closes cleanly") {
    raw_agent a;
    a.greet();
    a.send_bytes(header(0xffffffff) + "{}");
    check_error(a.next(), std::nullopt, protocol::error_code::bad_frame,
                "frame of 4294967295 bytes exceeds the limit of 16777216 bytes; closing the control stream");
    CHECK_FALSE(a.next().has_value()); // end of stream
    CHECK(a.link->exit_status() == "exit code 0");
}

TEST_CASE("agent: a frame truncated by end of stream gets an error") {
    raw_agent a;
    a.greet();
    a.send_bytes(header(100) + R"({"id":1,)");
    a.link->close_input();
    check_error(a.next(), std::nullopt, protocol::error_code::bad_frame,
                "truncated frame: stream ended after 8 of 100 frame bytes");
    CHECK_FALSE(a.next().has_value());
    CHECK(a.link->exit_status() == "exit code 0");
}

TEST_CASE("agent: exits within 2 s of end of stream") {
    raw_agent a;
    a.greet();
    auto t0 = std::chrono::steady_clock::now();
    a.link->close_input();
    CHECK_FALSE(a.next().has_value());
    CHECK(a.link->exit_status() == "exit code 0");
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}
