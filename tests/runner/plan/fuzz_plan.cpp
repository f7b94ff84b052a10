// Fuzz target for the plan loader: any input must give a plan or located errors, never a crash,
// a hang or an exception. With clang: -fsanitize=fuzzer. Without libFuzzer (KP_FUZZ_STANDALONE),
// main() mutates the files named on the command line for a bounded number of rounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runner/cli/dry_run.hpp"
#include "runner/plan/plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto p = kp::runner::load_plan("fuzz.yaml", text);
    if (p) (void)kp::runner::format_dry_run(*p); // a loaded plan must expand without errors
    return 0;
}

#ifdef KP_FUZZ_STANDALONE
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> seeds;
    for (int i = 2; i < argc; ++i) {
        std::ifstream in(argv[i], std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        seeds.push_back(ss.str());
    }
    if (argc < 3 || seeds.empty()) {
        std::fprintf(stderr, "usage: fuzz_plan ROUNDS SEED.yaml...\n");
        return 2;
    }
    const long rounds = std::stol(argv[1]);
    std::mt19937_64 rng(42);
    const std::string tokens[] = {"[",  "]",     "{",  "}",   ":",         ",",      "- ", "\n",
                                  "  ", "\"",    "'",  "&a ", "*a",        "!!str ", "~",  "%",
                                  "#",  "1e999", "-1", "rx+", "matrix: {", "4KiB",   "\t"};
    std::size_t loaded = 0;
    for (long r = 0; r < rounds; ++r) {
        std::string s = seeds[rng() % seeds.size()];
        for (int m = 1 + static_cast<int>(rng() % 6); m > 0 && !s.empty(); --m) {
            std::size_t at = rng() % s.size();
            switch (rng() % 5) {
            case 0:
                s[at] = static_cast<char>(rng() % 128);
                break;
            case 1:
                s.erase(at, 1 + rng() % 16);
                break;
            case 2:
                s.insert(at, tokens[rng() % std::size(tokens)]);
                break;
            case 3: { // splice a piece of another seed
                const auto& o = seeds[rng() % seeds.size()];
                std::size_t from = rng() % o.size();
                s.insert(at, o.substr(from, 1 + rng() % 64));
                break;
            }
            default:
                s.insert(at, s.substr(at, rng() % 32));
                break;
            }
        }
        if (std::getenv("KP_FUZZ_DUMP")) {
            std::ofstream(std::getenv("KP_FUZZ_DUMP"), std::ios::binary) << s;
        }
        auto p = kp::runner::load_plan("fuzz.yaml", s);
        if (p) {
            ++loaded;
            (void)kp::runner::format_dry_run(*p);
        }
    }
    std::printf("%ld rounds, %zu loaded\n", rounds, loaded);
    return 0;
}
#endif
