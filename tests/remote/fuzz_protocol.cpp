// Fuzz target for the control protocol's decoder: frames, requests and replies. Built with
// -fsanitize=fuzzer under clang (tests/remote/meson.build); fuzz_protocol_test.cpp runs the
// same entry point over seeded random inputs under any compiler.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "remote/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kp::remote::protocol;
    // Feed in two pieces split at a data-dependent point, as a pipe might deliver them.
    std::string_view all(reinterpret_cast<const char*>(data), size);
    std::size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    frame_decoder d;
    for (std::string_view piece : {all.substr(0, cut), all.substr(cut)}) {
        d.feed(piece);
        for (int frames = 0; frames < 1024; ++frames) {
            auto f = d.next();
            if (!f || !*f) break;
            // Whatever parses must re-encode and parse to the same thing.
            if (auto r = parse_request(**f)) {
                auto again = parse_request(to_json(*r).dump());
                if (!again || again->id != r->id || again->type != r->type) __builtin_trap();
            } else {
                reply e;
                e.id = r.error().id;
                e.ok = false;
                e.error = r.error().error;
                (void)encode_frame(to_json(e));
            }
            if (auto r = parse_reply(**f)) (void)encode_frame(to_json(*r));
        }
    }
    (void)d.truncation();
    // Also the raw input as one payload, without framing.
    (void)parse_request(all);
    (void)parse_reply(all);
    return 0;
}
