#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "engine/stats/tcp_stats.hpp"

using namespace kp::engine;

namespace {

// A connected loopback TCP pair; closes both ends (and the listener) on scope exit.
struct tcp_pair {
    int listener = -1, client = -1, server = -1;
    tcp_pair() {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(listen(listener, 1) == 0);
        REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        client = socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        server = accept(listener, nullptr, nullptr);
        REQUIRE(server >= 0);
    }
    ~tcp_pair() {
        for (int fd : {listener, client, server})
            if (fd >= 0) close(fd);
    }
};

} // namespace

TEST_CASE("tcp_stats: tcp_info on a real loopback connection") {
    tcp_pair p;
    const auto start = read_tcp_info(p.client);
    REQUIRE(start);

    // Move 8 MiB client -> server so the sender has RTT samples and a delivery rate.
    constexpr std::size_t total = 8 << 20;
    std::thread reader([&] {
        std::vector<char> buf(1 << 16);
        std::size_t got = 0;
        while (got < total) {
            const ssize_t n = read(p.server, buf.data(), buf.size());
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
    });
    std::vector<char> chunk(1 << 16, 'x');
    std::size_t sent = 0;
    while (sent < total) {
        const ssize_t n = write(p.client, chunk.data(), chunk.size());
        REQUIRE(n > 0);
        sent += static_cast<std::size_t>(n);
    }
    reader.join();

    const auto end = read_tcp_info(p.client);
    REQUIRE(end);
    const tcp_stats d = tcp_delta(*start, *end);
    CHECK(d.rtt_us > 0);
    CHECK(d.rtt_us < 1'000'000); // loopback: well under a second
    CHECK(d.snd_cwnd >= 1);
    CHECK(d.delivery_rate > 0);
    CHECK(d.total_retrans == end->total_retrans - start->total_retrans);
    CHECK(d.total_retrans < 100); // loopback does not lose
}

TEST_CASE("tcp_stats: counters are deltas across a u32 wrap, gauges are end values") {
    tcp_info_snapshot a, b;
    a.total_retrans = 0xFFFFFFF0u;
    b.total_retrans = 0x10u;
    a.reord_seen = 5;
    b.reord_seen = 9;
    a.delivered_ce = 1;
    b.delivered_ce = 1;
    a.rtt_us = 999;
    b.rtt_us = 50;
    b.rttvar_us = 7;
    b.snd_cwnd = 10;
    b.delivery_rate = 123456789;
    const tcp_stats d = tcp_delta(a, b);
    CHECK(d.total_retrans == 0x20);
    CHECK(d.reord_seen == 4);
    CHECK(d.delivered_ce == 0);
    CHECK(d.rtt_us == 50);
    CHECK(d.rttvar_us == 7);
    CHECK(d.snd_cwnd == 10);
    CHECK(d.delivery_rate == 123456789);
}

TEST_CASE("tcp_stats: a bad descriptor is an error, not zeros") {
    const auto r = read_tcp_info(-1);
    REQUIRE(!r);
    CHECK(r.error().message == "getsockopt TCP_INFO: Bad file descriptor");
}
