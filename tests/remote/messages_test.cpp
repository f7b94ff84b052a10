#include <doctest/doctest.h>

#include "remote/messages.hpp"
#include "remote/protocol.hpp"

using namespace kp::remote;
using kp::engine::endpoint;
using nlohmann::json;
namespace wire = kp::engine::wire;

namespace {

kp::engine::job_spec some_job() {
    kp::engine::job_spec j;
    j.kind = kp::engine::traffic::tcp_crr;
    j.flows = 7;
    j.tls.cipher = kp::engine::tls_cipher::aes_256_gcm;
    j.token = "tok";
    return j;
}

/// Encodes `in`, sends it through JSON text, decodes it: the value must come back unchanged.
template <class T> T round_trip(const T& in) {
    auto out = wire::decode<T>(json::parse(wire::encode(in).dump()), "args");
    REQUIRE(out.has_value());
    return *out;
}

/// The keys of `value`'s encoding whose value equals that of a default T (see codec_test.cpp).
template <class T> std::vector<std::string> same_as_default(const T& value) {
    const json v = wire::encode(value), d = wire::encode(T{});
    std::vector<std::string> same;
    for (const auto& [key, dv] : d.items())
        if (!v.contains(key) || v[key] == dv) same.push_back(key);
    return same;
}

const std::vector<std::string> none;

} // namespace

TEST_CASE("messages: every request's arguments round-trip by value") {
    const hello_args h{3, "0.1.0+abc", 5000};
    CHECK(same_as_default(h) == none);
    CHECK(round_trip(h) == h);

    const listen_args l{"rr/1", endpoint{"10.0.0.1", 5201}, some_job()};
    CHECK(same_as_default(l) == none);
    CHECK(round_trip(l) == l);

    const connect_args c{"rr/1", endpoint{"10.0.0.2", 5202}, some_job()};
    CHECK(same_as_default(c) == none);
    CHECK(round_trip(c) == c);

    const forward_args f{"rr/1/via0", endpoint{"10.0.0.3", 1}, endpoint{"10.0.0.4", 2}, some_job()};
    CHECK(same_as_default(f) == none);
    CHECK(round_trip(f) == f);

    const instance_args i{"rr/1"};
    CHECK(same_as_default(i) == none);
    CHECK(round_trip(i) == i);

    const start_args st{"rr/1", 1'764'000'000'123'456'789};
    CHECK(same_as_default(st) == none);
    CHECK(round_trip(st) == st);
    CHECK(wire::encode(start_args{"rr/1"}) == json{{"instance", "rr/1"}, {"at_ns", 0}});

    const clock_reply cr{1'764'000'000'987'654'321};
    CHECK(same_as_default(cr) == none);
    CHECK(round_trip(cr) == cr);
    CHECK(wire::encode(no_fields{}) == json::object());
}

TEST_CASE("messages: listen reply and capabilities round-trip by value") {
    const listen_reply r{5201, "ab:cd"};
    CHECK(same_as_default(r) == none);
    CHECK(round_trip(r) == r);

    capabilities caps;
    caps.protocol_version = 2;
    caps.build_id = "0.1.0+0123";
    caps.pid = 42;
    caps.arch = "x86_64";
    caps.kernel = "6.1.0";
    caps.cpu_count = 4;
    caps.allowed_cpus = {0, 2};
    caps.ktls = true;
    caps.ktls_reason = "none";
    caps.interfaces = {{"eth0", {"10.0.0.1", "fe80::1"}, 1500, "virtio_net"}};
    CHECK(same_as_default(caps) == none);
    CHECK(same_as_default(caps.interfaces[0]) == none);
    CHECK(round_trip(caps) == caps);
    CHECK(json(caps).get<capabilities>() == caps);
}

TEST_CASE("messages: decoding rejects out-of-range ports and missing fields, naming them") {
    auto listen_error = [](const json& j) {
        auto r = wire::decode<listen_reply>(j, "reply");
        return r ? std::string("(decoded)") : r.error().message;
    };
    CHECK(listen_error({{"port", 65536}, {"tls_fingerprint", ""}}) == "reply.port: 65536 is too large");
    CHECK(listen_error({{"port", -1}}) == "reply.port: expected an unsigned integer, got -1");
    CHECK(listen_error({{"tls_fingerprint", ""}}) == "reply.port: missing");
    CHECK(listen_error({{"port", 1}, {"extra", 1}}) == "reply: unknown key 'extra'");

    auto args_error = [](const json& j) {
        auto r = wire::decode<listen_args>(j, "args");
        return r ? std::string("(decoded)") : r.error().message;
    };
    CHECK(args_error({{"instance", "x"}}) == "args.bind: missing");
    CHECK(args_error(
              {{"instance", "x"}, {"bind", {{"address", "h"}, {"port", 70000}}}, {"job", json::object()}}) ==
          "args.bind.port: 70000 is too large");
    CHECK(args_error({{"instance", "x"}, {"bind", {{"port", 1}}}, {"job", json::object()}}) ==
          "args.bind.address: missing");
}

TEST_CASE("messages: an error's kind crosses the wire") {
    using namespace protocol;
    for (auto kind : {kp::error_kind::usage, kp::error_kind::infrastructure, kp::error_kind::timeout}) {
        reply bad;
        bad.id = 3;
        bad.ok = false;
        bad.error = {error_code::engine, "udp write_size 65536 is above 65507", "listen u/1", kind};
        auto back = parse_reply(to_json(bad).dump());
        REQUIRE(back.has_value());
        CHECK(back->error == bad.error);
    }
    // An agent that sends no kind: the code decides.
    auto old = parse_reply(R"({"id":1,"ok":false,"error":{"code":"timeout","message":"m","context":"c"}})");
    REQUIRE(old.has_value());
    CHECK(old->error.kind == kp::error_kind::timeout);
    CHECK(kind_of(error_code::engine) == kp::error_kind::infrastructure);
}
