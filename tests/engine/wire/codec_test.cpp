#include <doctest/doctest.h>

#include <random>

#include "engine/wire/codec.hpp"

using namespace kp::engine;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

job_spec full_job() {
    job_spec j;
    j.kind = traffic::udp_rr;
    j.dir = direction::bidir;
    j.flows = 10000;
    j.workers = 2;
    j.write_size = 1;
    j.read_size = 2;
    j.request_size = 3;
    j.response_size = 4;
    j.in_flight = 5;
    j.close = crr_close::client;
    j.rate = 12345.5;
    j.arrivals = arrival::poisson;
    j.timeout = 7ms;
    j.warmup = 1500ms;
    j.duration = 30s;
    j.placement = {placement_rule::kind::cpus, -2, {0, 3}};
    j.distinct_rx = true;
    j.verify = true;
    j.histograms = false;
    j.flow_detail = true;
    j.tls = {tls_mode::automatic, tls_version::v1_2, tls_cipher::chacha20_poly1305, false, false, "ab:cd"};
    j.sockopts = {1 << 20, 2 << 20, true, "bbr", 125'000'000, true};
    j.token = "tok";
    j.id = "rr-small#2";
    return j;
}

histogram some_histogram(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    histogram h;
    for (int i = 0; i < 5000; ++i)
        h.record(1000 + rng() % 10'000'000);
    return h;
}

side_result full_side() {
    side_result s;
    s.window_start_ns = 1'700'000'000'000'000'000;
    s.window_end_ns = s.window_start_ns + 10'000'000'000;
    s.seconds = 10.000123;
    flow_result f;
    f.id = 7;
    f.rx_cpu_start = 1;
    f.rx_cpu_end = 0;
    f.peer_rx_cpu = 1;
    f.app_cpu = 0;
    f.local_port = 40000;
    f.remote_port = 5201;
    f.bytes_sent = 1ull << 40;
    f.bytes_received = 3;
    f.transactions = 4;
    f.connections = 5;
    f.datagrams_sent = 6;
    f.datagrams_received = 7;
    f.lost = 8;
    f.reordered = 9;
    f.duplicated = 10;
    f.latency = some_histogram(1);
    f.tcp = {11, 12, 13, 14, 15, 16, 17};
    f.tls = {tls_path::kernel, tls_path::user, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 0.0021, "rx fell back"};
    s.flows = {f, flow_result{}};
    s.flows_omitted = 9998;
    s.totals = {10'000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    s.spread = {1.5, 2.5, 3.5, 0.75};
    s.workers = {{0, 2, 3, {5'000, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}, {1, -1, 0, {}}};
    s.latency = some_histogram(2);
    s.connect_latency = some_histogram(3);
    s.close_latency = some_histogram(4);
    s.handshake_latency = some_histogram(5);
    s.send_lateness = some_histogram(6);
    s.sends_held = 42;
    s.cpu_total = {3, 1.5, 0.01, 2.25, 0.1, 0.2, 0.3, 16.0};
    s.cpus = {{0, 1, 0, 1, 0, 0, 0, 8}, {1, 0.5, 0.01, 1.25, 0.1, 0.2, 0, 8}};
    s.rusage_user_s = 1.25;
    s.rusage_system_s = 2.5;
    s.errors = {1, 2, 3, 4, 5, 6};
    s.samples = {{1.0, 100, 10, 12.5, 80.0}, {2.0, 200, 20, std::nullopt, std::nullopt}};
    s.placement_note = "distinct_rx: ...";
    s.ktls_available = true;
    s.tls_stat = {{"TlsCurrTxSw", 2}, {"TlsTxSw", 40}};
    s.relay = relay_stats{3, 100, 200, 1, {{0, 2, 150}, {-1, 1, 150}}, {0, 2}};
    return s;
}

/// The keys of `value`'s JSON whose value equals that of a default T: a test value that should
/// differ from the default everywhere lists none, so a field dropped in both directions fails.
template <class T> std::vector<std::string> same_as_default(const T& value) {
    const json v = value, d = T{};
    std::vector<std::string> same;
    for (const auto& [key, dv] : d.items())
        if (!v.contains(key) || v[key] == dv) same.push_back(key);
    return same;
}

std::string decode_error(const json& j) {
    auto r = decode_job(j);
    return r ? std::string("(decoded)") : r.error().message;
}

} // namespace

TEST_CASE("codec: job_spec round-trips every field through JSON text") {
    const job_spec in = full_job();
    const json j = in;
    CHECK(j["kind"] == "udp_rr");
    CHECK(j["dir"] == "bidir");
    CHECK(j["warmup_ns"] == 1'500'000'000);
    CHECK(j["tls"]["mode"] == "auto");
    CHECK(j["tls"]["version"] == "1.2");
    CHECK(j["placement"] == json::parse(R"({"how":"cpus","offset":-2,"cpus":[0,3]})"));
    const auto out = decode_job(json::parse(j.dump()));
    REQUIRE(out);
    CHECK(*out == in);
    CHECK(out->timeout == 7ms);
    CHECK(out->placement == in.placement);
    CHECK(out->tls.peer_fingerprint == "ab:cd");
    CHECK(out->sockopts.congestion == "bbr");
    CHECK(j.get<job_spec>().id == "rr-small#2");
}

TEST_CASE("codec: missing keys keep their defaults") {
    const auto out = decode_job(json::parse(R"({"kind":"tcp_rr","flows":3})"));
    REQUIRE(out);
    CHECK(out->kind == traffic::tcp_rr);
    CHECK(out->flows == 3);
    CHECK(json(*out)["duration_ns"] == 10'000'000'000);
}

TEST_CASE("codec: decode errors name the field path") {
    CHECK(decode_error(json::array()) == "job: expected an object, got array");
    CHECK(decode_error(json::parse(R"({"flows":"2"})")) ==
          "job.flows: expected an unsigned integer, got string");
    CHECK(decode_error(json::parse(R"({"flows":-2})")) == "job.flows: expected an unsigned integer, got -2");
    CHECK(decode_error(json::parse(R"({"flows":4294967296})")) == "job.flows: 4294967296 is too large");
    CHECK(decode_error(json::parse(R"({"flows":1.5})")) ==
          "job.flows: expected an unsigned integer, got number");
    CHECK(decode_error(json::parse(R"({"paralellism":1})")) == "job: unknown key 'paralellism'");
    CHECK(
        decode_error(json::parse(R"({"kind":"tcp_rrr"})")) ==
        "job.kind: unknown value 'tcp_rrr' (expected one of 'tcp_stream', 'tcp_rr', 'tcp_crr', 'udp_stream', "
        "'udp_rr')");
    CHECK(decode_error(json::parse(R"({"tls":{"mode":"tls9"}})")) ==
          "job.tls.mode: unknown value 'tls9' (expected one of 'none', 'openssl', 'ktls', 'auto')");
    CHECK(decode_error(json::parse(R"({"placement":{"cpus":[0,"x"]}})")) ==
          "job.placement.cpus[1]: expected an integer, got string");
    CHECK(decode_error(json::parse(R"({"warmup_ns":-1})")) == "job.warmup_ns: a duration cannot be negative");
    CHECK(decode_error(json::parse(R"({"verify":1})")) == "job.verify: expected a boolean, got number");
    CHECK(decode_error(json::parse(R"({"sockopts":{"sndbuf":3000000000}})")) ==
          "job.sockopts.sndbuf: 3000000000 is too large");
}

TEST_CASE("codec: nlohmann from_json throws only nlohmann exceptions, with the path") {
    const json bad = json::parse(R"({"tls":{"cipher":7}})");
    CHECK_THROWS_AS(bad.get<job_spec>(), json::other_error);
    try {
        (void)bad.get<job_spec>();
    } catch (const json::exception& e) {
        CHECK(std::string(e.what()).find("$.tls.cipher: expected a string, got number") != std::string::npos);
    }
}

TEST_CASE("codec: histogram JSON shape") {
    histogram h;
    h.record(5);
    h.record(5);
    h.record(300);
    CHECK(json(h) == json::parse(R"({"buckets":[[5,2],[278,1]],"min":5,"max":300,"sum":310.0,"count":3})"));
    CHECK(json(histogram{}) == json::parse(R"({"buckets":[],"min":0,"max":0,"sum":0.0,"count":0})"));
}

TEST_CASE("codec: histograms round-trip exactly and merge losslessly after decoding") {
    const histogram a = some_histogram(10), b = some_histogram(11);
    const auto a2 = decode_histogram(json::parse(json(a).dump()));
    const auto b2 = decode_histogram(json::parse(json(b).dump()));
    REQUIRE(a2);
    REQUIRE(b2);
    CHECK(*a2 == a);
    histogram direct = a, via_json = *a2;
    direct.merge(b);
    via_json.merge(*b2);
    CHECK(via_json == direct);
    CHECK(via_json.percentile(99.9) == direct.percentile(99.9));
}

TEST_CASE("codec: histogram decode checks indices and counts") {
    auto err = [](std::string_view text) {
        auto r = decode_histogram(json::parse(text));
        return r ? std::string("(decoded)") : r.error().message;
    };
    CHECK(err(R"({"buckets":[[4480,1]],"min":1,"max":1,"sum":1,"count":1})") ==
          "histogram.buckets[0]: bucket index 4480 is out of range (< 4480)");
    CHECK(err(R"({"buckets":[[3,1]],"min":3,"max":3,"sum":3,"count":2})") ==
          "histogram: count 2 does not match the buckets' total 1");
    CHECK(err(R"({"buckets":[[3]],"count":1})") == "histogram.buckets[0]: expected [bucket index, count]");
    CHECK(err(R"({"buckets":[[3,1]],"min":9,"max":3,"sum":3,"count":1})") ==
          "histogram: min 9 is above max 3");
    CHECK(err(R"({"buckets":[[3,18446744073709551615],[4,1]],"count":0})") ==
          "histogram.buckets: counts overflow");
}

TEST_CASE("codec: the round-trip values differ from the defaults in every field") {
    const job_spec job = full_job();
    CHECK(same_as_default(job) == std::vector<std::string>{});
    CHECK(same_as_default(job.tls) == std::vector<std::string>{});
    CHECK(same_as_default(job.sockopts) == std::vector<std::string>{});
    CHECK(same_as_default(job.placement) == std::vector<std::string>{});
    const side_result side = full_side();
    CHECK(same_as_default(side) == std::vector<std::string>{});
    CHECK(same_as_default(side.flows[0]) == std::vector<std::string>{});
    CHECK(same_as_default(side.flows[0].tcp) == std::vector<std::string>{});
    CHECK(same_as_default(side.flows[0].tls) == std::vector<std::string>{});
    CHECK(same_as_default(side.cpu_total) == std::vector<std::string>{});
    CHECK(same_as_default(side.errors) == std::vector<std::string>{});
    CHECK(same_as_default(side.samples[0]) == std::vector<std::string>{});
    CHECK(same_as_default(side.totals) == std::vector<std::string>{});
    CHECK(same_as_default(side.spread) == std::vector<std::string>{});
    CHECK(same_as_default(side.workers[0]) == std::vector<std::string>{});
    CHECK(same_as_default(side.workers[0].totals) == std::vector<std::string>{});
    // relay is left out when empty, so a default side_result has no key to compare it with.
    REQUIRE(side.relay);
    CHECK(json(side).contains("relay"));
}

TEST_CASE("codec: side_result round-trips every field by value") {
    const side_result in = full_side();
    const json j = in;
    const auto out = decode_side_result(json::parse(j.dump()));
    REQUIRE(out);
    CHECK(*out == in);
    CHECK(j["handshake_latency"]["count"] == 5000);
    CHECK(j["send_lateness"]["count"] == 5000);
    CHECK(j["tls_stat"] == json::parse(R"({"TlsCurrTxSw":2,"TlsTxSw":40})"));
    CHECK(j["flows"][0]["tls"]["tx_path"] == "kernel");
    REQUIRE(out->flows.size() == 2);
    CHECK(out->flows[0].latency == in.flows[0].latency);
    CHECK(out->flows[0].tls.note == "rx fell back");
    CHECK(out->flows[0].tcp.delivery_rate == 17);
    CHECK(out->latency == in.latency);
    CHECK(out->close_latency == in.close_latency);
    CHECK(out->cpus[1].system == 1.25);
    CHECK(out->window_start_ns == in.window_start_ns);
    CHECK(out->flows_omitted == 9998);
    CHECK(out->totals == in.totals);
    CHECK(out->spread == in.spread);
    CHECK(out->workers == in.workers);
    CHECK(j["flow_totals"]["total_retrans"] == 10);
    CHECK(j["workers"][0]["totals"]["flows"] == 5000);

    json broken = j;
    broken["flows"][1]["latency"]["count"] = 1;
    CHECK(decode_side_result(broken).error().message ==
          "result.flows[1].latency: count 1 does not match the buckets' total 0");
}

TEST_CASE("codec: mangled input never escapes as anything but an error value") {
    const std::string text = json(full_side()).dump();
    std::mt19937 rng(9);
    int parsed = 0;
    for (int round = 0; round < 2000; ++round) {
        std::string t = text;
        for (int k = 0; k < 3; ++k)
            t[rng() % t.size()] = "0123456789-\"[]{}:,ax."[rng() % 21];
        const json j = json::parse(t, nullptr, false);
        if (j.is_discarded()) continue;
        ++parsed;
        CHECK_NOTHROW((void)decode_side_result(j));
        CHECK_NOTHROW((void)decode_job(j));
    }
    CHECK(parsed > 100);
}

TEST_CASE("codec: enum names parse back") {
    for (auto t :
         {traffic::tcp_stream, traffic::tcp_rr, traffic::tcp_crr, traffic::udp_stream, traffic::udp_rr})
        CHECK(parse_traffic(to_string(t)) == t);
    CHECK(parse_tls_mode("auto") == tls_mode::automatic);
    CHECK(parse_tls_version("1.3") == tls_version::v1_3);
    CHECK(!parse_direction("sideways"));
    CHECK(parse_arrival("poisson") == arrival::poisson);
    CHECK(parse_tls_cipher("aes-256-gcm") == tls_cipher::aes_256_gcm);
    CHECK(!parse_tls_cipher("aes_256_gcm"));
    CHECK(to_string(tls_cipher::chacha20_poly1305) == "chacha20-poly1305");
    CHECK(to_string(tls_path::user) == "user");
}

TEST_CASE("codec: every integer field rejects a number out of its range") {
    side_result s;
    s.flows.resize(1);
    json j = s;
    j["flows"][0]["local_port"] = 65536;
    CHECK(decode_side_result(j).error().message == "result.flows[0].local_port: 65536 is too large");
    j["flows"][0]["local_port"] = -1;
    CHECK(decode_side_result(j).error().message ==
          "result.flows[0].local_port: expected an unsigned integer, got -1");
    CHECK(decode_error(json::parse(R"({"sockopts":{"sndbuf":-3000000000}})")) ==
          "job.sockopts.sndbuf: -3000000000 is out of range");
    json t = s;
    t["tls_stat"] = {{"TlsTxSw", -1}};
    CHECK(decode_side_result(t).error().message ==
          "result.tls_stat.TlsTxSw: expected an unsigned integer, got -1");
}
