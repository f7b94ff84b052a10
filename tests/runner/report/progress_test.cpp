#include <doctest/doctest.h>

#include "runner/report/progress.hpp"

using namespace kp::runner;

TEST_CASE("progress: a latency is printed in the unit that fits") {
    CHECK(human_latency_us(0.85) == "850 ns");
    CHECK(human_latency_us(48.77) == "48.77 us");
    CHECK(human_latency_us(123.456) == "123.5 us");
    CHECK(human_latency_us(999.99) == "1 ms");
    CHECK(human_latency_us(92'000) == "92 ms");
    CHECK(human_latency_us(1'234.4) == "1.234 ms");
    CHECK(human_latency_us(1'500'000) == "1.5 s");
    CHECK(human_latency_us(0) == "0 ns");
}
