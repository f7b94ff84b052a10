#include <doctest/doctest.h>

#include "runner/plan/diagnostics.hpp"
#include "runner/plan/units.hpp"

using namespace kp::runner;
using namespace std::chrono_literals;

TEST_CASE("units: sizes") {
    CHECK(parse_size("64").value() == 64);
    CHECK(parse_size("4KiB").value() == 4096);
    CHECK(parse_size("1MiB").value() == 1u << 20);
    CHECK(parse_size("1MB").value() == 1000000);
    CHECK(parse_size("2GiB").value() == 2ull << 30);
    CHECK(parse_size("4KB/s").error() == "expected a size such as 64, 4KiB, 1MiB or 1MB, got '4KB/s'");
    CHECK_FALSE(parse_size("").has_value());
    CHECK_FALSE(parse_size("-1").has_value());
    CHECK_FALSE(parse_size("4 KiB").has_value());
    CHECK(format_size(65536) == "64KiB");
    CHECK(format_size(1000) == "1000");
}

TEST_CASE("units: a decimal size is noted in bytes, a binary one is not") {
    CHECK(decimal_size_note("64KB") == "64KB = 64000 B (64KiB would be 65536 B)");
    CHECK(decimal_size_note("1kB") == "1kB = 1000 B (1KiB would be 1024 B)");
    CHECK(decimal_size_note("2MB") == "2MB = 2000000 B (2MiB would be 2097152 B)");
    CHECK(decimal_size_note("1GB") == "1GB = 1000000000 B (1GiB would be 1073741824 B)");
    CHECK_FALSE(decimal_size_note("64KiB"));
    CHECK_FALSE(decimal_size_note("4096"));
    CHECK_FALSE(decimal_size_note("64B"));
    CHECK_FALSE(decimal_size_note("1.5KB")); // not a size at all
}

TEST_CASE("units: durations need a unit") {
    CHECK(parse_duration("500ms").value() == 500ms);
    CHECK(parse_duration("10s").value() == 10s);
    CHECK(parse_duration("2m").value() == 120s);
    CHECK(parse_duration("1.5s").value() == 1500ms);
    CHECK(parse_duration("250us").value() == 250us);
    CHECK(parse_duration("10").error() ==
          "expected a duration with a unit (ns, us, ms, s, m, h) such as 500ms, 10s or 2m, got '10'");
    CHECK_FALSE(parse_duration("10 s").has_value());
    CHECK_FALSE(parse_duration(".5s").has_value());
    CHECK(format_duration(2s) == "2s");
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(120s) == "2m");
}

TEST_CASE("units: rates") {
    CHECK(parse_rate("unlimited").value().how == rate::unit::unlimited);
    auto r = parse_rate("20k/s").value();
    CHECK(r.how == rate::unit::per_second);
    CHECK(r.value == 20000);
    CHECK(parse_rate("2M/s").value().value == 2e6);
    auto b = parse_rate("10Gbit/s").value();
    CHECK(b.how == rate::unit::bits_per_second);
    CHECK(b.value == 1e10);
    CHECK(parse_rate("500Mbit/s").value().value == 5e8);
    CHECK(parse_rate("10Gbps").error() ==
          "expected a rate such as unlimited, 20k/s, 2M/s, 500Mbit/s or 10Gbit/s, got '10Gbps'");
    CHECK_FALSE(parse_rate("20x/s").has_value());
    CHECK(format_rate(b) == "10Gbit/s");
    CHECK(format_rate(r) == "20k/s");
    CHECK(parse_bit_rate("1Gbit/s").value() == 1e9);
    CHECK(parse_bit_rate("1k/s").error() == "expected a bit rate such as 500Mbit/s or 10Gbit/s, got '1k/s'");
}

TEST_CASE("units: counts and percentages") {
    CHECK(parse_count("8", 10).value() == 8);
    CHECK(parse_count("11", 10).error() == "11 is too large: at most 10");
    CHECK(parse_count("+1", 10).error() == "expected a whole number from 0 to 10, got '+1'");
    CHECK(parse_percent("2%").value() == doctest::Approx(0.02));
    CHECK(parse_percent("0.1%").value() == doctest::Approx(0.001));
    CHECK_FALSE(parse_percent("2").has_value());
}

TEST_CASE("diagnostics: edit distance and did-you-mean") {
    CHECK(edit_distance("flows", "flos") == 1);
    CHECK(edit_distance("", "abc") == 3);
    constexpr std::string_view names[] = {"flows", "workers", "in_flight"};
    CHECK(did_you_mean("flos", names) == ", did you mean 'flows'?");
    CHECK(did_you_mean("inflight", names) == ", did you mean 'in_flight'?");
    CHECK(did_you_mean("parallelism", names).empty());
}
