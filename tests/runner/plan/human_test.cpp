#include <doctest/doctest.h>

#include "runner/plan/human.hpp"

using namespace kp::runner;
using kp::engine::traffic;

TEST_CASE("human: durations in the unit that fits, 3 significant digits") {
    CHECK(human_us(0) == "0 ns");
    CHECK(human_ns(0.5) == "0.500 ns");
    CHECK(human_us(0.85) == "850 ns");
    CHECK(human_us(0.9996) == "1.00 us"); // sub-µs rounding up into µs
    CHECK(human_us(48.77) == "48.8 us");
    CHECK(human_us(123.456) == "123 us");
    CHECK(human_us(999.4) == "999 us");
    CHECK(human_us(999.95) == "1.00 ms"); // rounds into ms, never "1000 us" or "1e+03 us"
    CHECK(human_us(1'234.4) == "1.23 ms");
    CHECK(human_us(49'900) == "49.9 ms");
    CHECK(human_us(92'000) == "92.0 ms");
    CHECK(human_us(460'000) == "460 ms");
    CHECK(human_us(1e6) == "1.00 s");
    CHECK(human_seconds(0.41) == "410 ms");
    CHECK(human_seconds(4321) == "4320 s"); // s is the largest unit
    CHECK(human_us(-1'500) == "-1.50 ms");
}

TEST_CASE("human: numbers and rates take an SI prefix from 10000, never an exponent") {
    CHECK(human_number(0) == "0");
    CHECK(human_number(0.5) == "0.500");
    CHECK(human_number(0.001234) == "0.00123");
    CHECK(human_number(12.34) == "12.3");
    CHECK(human_number(999.4) == "999");
    CHECK(human_number(999.6) == "1000");
    CHECK(human_number(1234.4) == "1234");
    CHECK(human_number(9999.4) == "9999");
    CHECK(human_number(9999.6) == "10.0k");
    CHECK(human_number(1e4) == "10.0k");
    CHECK(human_number(999'960) == "1.00M");
    CHECK(human_number(9.41e9) == "9.41G");
    CHECK(human_number(-12'345) == "-12.3k");
    CHECK(human_rate(1e4, "tx") == "10.0k tx/s");
    CHECK(human_rate(9999.6, "tx") == "10.0k tx/s");
    CHECK(human_rate(7500) == "7500/s");
    CHECK(human_rate(36'000) == "36.0k/s");
    CHECK(human_rate(52'149, "conn") == "52.1k conn/s");
    CHECK(human_bit_rate(0) == "0 bit/s");
    CHECK(human_bit_rate(500) == "500 bit/s");
    CHECK(human_bit_rate(1e9) == "1.00 Gbit/s");
    CHECK(human_bit_rate(9.41e9) == "9.41 Gbit/s");
    CHECK(human_bit_rate(17.1e9) == "17.1 Gbit/s");
    CHECK(human_bit_rate(999.7e6) == "1.00 Gbit/s");
}

TEST_CASE("human: counts, sizes and percentages") {
    CHECK(human_count(0) == "0");
    CHECK(human_count(17) == "17");
    CHECK(human_count(9999) == "9999");
    CHECK(human_count(12'345) == "12.3k");
    CHECK(human_size(0) == "0 B");
    CHECK(human_size(512) == "512 B");
    CHECK(human_size(1000) == "1000 B");
    CHECK(human_size(1024) == "1.00 KiB");
    CHECK(human_size(1500) == "1.46 KiB");
    CHECK(human_size(65'536) == "64.0 KiB");
    CHECK(human_size(1'048'000) == "1023 KiB");
    CHECK(human_size(1'048'575) == "1.00 MiB");
    CHECK(human_size(1.5 * 1024 * 1024) == "1.50 MiB");
    CHECK(human_size(64e9) == "59.6 GiB");
    CHECK(human_percent(0) == "0%");
    CHECK(human_percent(0.00123) == "0.123%");
    CHECK(human_percent(0.5) == "50.0%");
    CHECK(plus_sign(1'200, human_us(1'200)) == "+1.20 ms");
    CHECK(plus_sign(-31.23, human_us(-31.23)) == "-31.2 us");
    CHECK(plus_sign(0, human_us(0)) == "0 ns");
}

TEST_CASE("human: a metric in the unit of its instance; service demand by kind") {
    CHECK(human_metric(metric::latency_p99, 49'900, traffic::tcp_rr) == "49.9 ms");
    CHECK(human_metric(metric::transactions_per_s, 1e4, traffic::tcp_rr) == "10.0k tx/s");
    CHECK(human_metric(metric::connections_per_s, 6853, traffic::tcp_crr) == "6853 conn/s");
    CHECK(human_metric(metric::throughput_bps, 9.41e9, traffic::tcp_stream) == "9.41 Gbit/s");
    CHECK(human_metric(metric::loss_ratio, 0.0012, traffic::udp_rr) == "0.120%");
    CHECK(human_metric(metric::retransmits, 627, traffic::tcp_crr) == "627");
    CHECK(human_metric(metric::server_cpu_s, 4.11, traffic::tcp_rr) == "4.11 s");
    CHECK(human_metric(metric::fairness, 0.9963, std::nullopt) == "0.996");
    CHECK(human_metric(metric::client_service_demand, 12.34, traffic::tcp_rr) == "12.3 us/transaction");
    CHECK(human_metric(metric::server_service_demand, 1'234, traffic::udp_rr) == "1.23 ms/transaction");
    CHECK(human_metric(metric::server_service_demand, 0.512, traffic::tcp_stream) == "512 ms/GB");
    CHECK(human_metric(metric::server_service_demand, 0.512, std::nullopt) == "0.512");
    CHECK(human_metric(metric::server_service_demand, 0.512, std::string_view("s/GB")) == "512 ms/GB");
    CHECK(human_metric(metric::latency_p50, -850, std::string_view("us")) == "-850 us");
    CHECK(unit_of(metric::client_service_demand, traffic::tcp_crr) == "us/transaction");
    CHECK(unit_of(metric::client_service_demand, traffic::udp_stream) == "s/GB");
    CHECK(unit_of(metric::latency_p99, traffic::udp_stream) == "us");
}
