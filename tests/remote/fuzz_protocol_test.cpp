#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "remote/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using kp::remote::protocol::encode_frame;

// Valid frames to mutate: mutations of near-valid input reach deeper than pure noise.
std::vector<std::string> seeds() {
    using nlohmann::json;
    return {
        encode_frame({{"id", 1},
                      {"type", "hello"},
                      {"timeout_ms", 5000},
                      {"args", {{"protocol", kp::remote::protocol::version}}}}),
        encode_frame({{"id", 2},
                      {"type", "listen"},
                      {"timeout_ms", 1},
                      {"args", {{"instance", "rr/1"}, {"bind", {{"address", "127.0.0.1"}, {"port", 0}}}}}}),
        encode_frame(
            {{"id", 3}, {"ok", false}, {"error", {{"code", "busy"}, {"message", "m"}, {"context", "c"}}}}),
        encode_frame({{"id", 4}, {"ok", true}, {"result", {{"port", 5201}, {"tls_fingerprint", ""}}}}) +
            encode_frame({{"id", nullptr}, {"ok", false}, {"error", json::object()}}),
        std::string("\0\0\0\x02{}", 6),
    };
}

std::string encode_frame_raw(const std::string& payload) {
    auto n = static_cast<std::uint32_t>(payload.size());
    return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                       static_cast<char>(n)} +
           payload;
}

} // namespace

TEST_CASE("protocol: decoder survives seeded random and mutated inputs") {
    std::mt19937_64 rng(20261125); // fixed seed: the same inputs on every run
    auto base = seeds();
    int requests = 0, rejected = 0;
    for (int runs = 0; runs < 4000; ++runs) {
        std::string in;
        if (runs % 4 == 0) { // pure noise of random length
            in.resize(rng() % 64);
            for (auto& c : in)
                c = static_cast<char>(rng());
        } else { // a seed with a few bytes flipped, inserted or cut
            in = base[rng() % base.size()];
            int edits = 1 + static_cast<int>(rng() % 2);
            for (int e = 0; e < edits && !in.empty(); ++e) {
                std::size_t at = rng() % in.size();
                switch (rng() % 3) {
                case 0:
                    in[at] = static_cast<char>(rng());
                    break;
                case 1:
                    in.insert(at, 1, static_cast<char>(rng()));
                    break;
                default:
                    in.erase(at, 1 + rng() % 8);
                    break;
                }
            }
            // Half the time fix up the length prefix, so the mutated JSON reaches the parser.
            if (runs % 4 != 3 && in.size() >= 4) in = encode_frame_raw(in.substr(4));
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
        // Count how deep the inputs got, so a generator that only makes noise fails the test.
        kp::remote::protocol::frame_decoder d;
        d.feed(in);
        if (auto f = d.next(); f && *f) (kp::remote::protocol::parse_request(**f) ? requests : rejected)++;
    }
    CHECK(requests > 50); // 72 with this seed
    CHECK(rejected > 100);
}
