// The traffic-kind descriptor and the engine's role table: every kind is described once, every
// role it uses has a complete row of hooks, and the session derives roles from the descriptor.
#include <doctest/doctest.h>

#include <set>

#include "engine/session/session_core.hpp"
#include "engine/traffic/kinds.hpp"
#include "engine/traffic/traffic.hpp"

using namespace kp::engine;

TEST_CASE("traffic: one row per kind, in enum order, with its spelling") {
    for (std::size_t i = 0; i < traffic_count; ++i) {
        const traffic_info& k = traffic_table[i];
        CHECK(static_cast<std::size_t>(k.kind) == i);
        CHECK(&info(k.kind) == &k);
        CHECK(traffic_from_name(k.name) == k.kind);
    }
    CHECK_FALSE(traffic_from_name("tcp_maerts").has_value());
    CHECK(info(traffic::udp_rr).udp());
    CHECK(info(traffic::tcp_crr).tcp());
    CHECK(info(traffic::tcp_crr).crr());
    CHECK(info(traffic::udp_stream).stream());
    CHECK_FALSE(info(traffic::tcp_rr).stream());
}

TEST_CASE("traffic: UDP defaults fit a datagram and UDP kinds are not proxied") {
    for (const auto& k : traffic_table) {
        if (!k.udp()) continue;
        CHECK(k.default_write_size <= max_udp_payload);
        CHECK_FALSE(k.proxyable);
    }
}

TEST_CASE("roles: every role has a complete row of hooks, in enum order") {
    static_assert(role_rows.size() == role_count);
    for (std::size_t i = 0; i < role_count; ++i) {
        const role_hooks& h = role_rows[i];
        CAPTURE(i);
        CHECK(static_cast<std::size_t>(h.role) == i);
        CHECK(&hooks(static_cast<conn_role>(i)) == &h);
        CHECK(static_cast<bool>(h.prepare));
        CHECK(static_cast<bool>(h.start));
        CHECK(static_cast<bool>(h.event));
        CHECK(static_cast<bool>(h.window_end));
        CHECK(static_cast<bool>(h.linger));
        CHECK(static_cast<bool>(h.figures));
        CHECK(complete(h));
        if (h.timed || h.source) CHECK(static_cast<bool>(h.timer)); // pacing and timeouts run there
    }
}

TEST_CASE("roles: each kind's connections get roles of its transport and pattern") {
    std::set<conn_role> used;
    for (const auto& k : traffic_table) {
        CAPTURE(k.name);
        for (direction d : {direction::forward, direction::reverse, direction::bidir}) {
            job_spec job;
            job.kind = k.kind;
            job.dir = d;
            for (std::uint8_t slot = 0; slot < conns_per_flow(job); ++slot) {
                conn_role client = role_for(job, false, slot), server = role_for(job, true, slot);
                used.insert(client);
                if (!k.crr()) used.insert(server); // the crr server keeps no connections
                // A udp role on a udp kind only: the worker reads the transport from the kind.
                bool udp_role = client == conn_role::udp_send || client == conn_role::udp_recv ||
                                client == conn_role::udp_rr_client;
                CHECK(udp_role == k.udp());
                // A stream has exactly one sending end; otherwise the client is the paced source.
                if (k.stream()) {
                    CHECK(hooks(client).sender != hooks(server).sender);
                } else {
                    CHECK(hooks(client).source);
                }
            }
        }
    }
    CHECK(used.size() == role_count); // no role is left without a kind
}

TEST_CASE("roles: direction swaps the stream roles, never the rr ones") {
    job_spec job;
    job.kind = traffic::tcp_stream;
    job.dir = direction::reverse;
    CHECK(role_for(job, false, 0) == conn_role::stream_recv);
    CHECK(role_for(job, true, 0) == conn_role::stream_send);
    job.dir = direction::bidir;
    CHECK(role_for(job, false, 0) == conn_role::stream_send);
    CHECK(role_for(job, false, 1) == conn_role::stream_recv);
    CHECK(conns_per_flow(job) == 2);
    job.kind = traffic::udp_rr;
    job.dir = direction::reverse;
    CHECK(role_for(job, false, 0) == conn_role::udp_rr_client);
    CHECK(role_for(job, true, 0) == conn_role::udp_rr_server);
    CHECK(conns_per_flow(job) == 1);
}

TEST_CASE("roles: udp_stream figures count what the sender marked in its window") {
    conn send;
    send.role = conn_role::udp_send;
    auto& s = send.state.emplace<udp_send_state>();
    send.at_end.datagrams_sent = 120; // everything it sent, warm-up and linger included
    s.measured_sent = 100;
    s.measured_bytes = 100 * 1472;
    counters d = hooks(send.role).figures(send);
    CHECK(d.datagrams_sent == 100);
    CHECK(d.bytes_sent == 100 * 1472);

    conn recv;
    recv.role = conn_role::udp_recv;
    auto& r = recv.state.emplace<udp_recv_state>();
    recv.c.datagrams_received = 93; // 3 of them duplicates: 90 distinct of 100 marked
    recv.c.duplicated = 3;
    recv.c.lost = 4;                                 // provisional, from sequence gaps
    CHECK(hooks(recv.role).figures(recv).lost == 4); // no end note yet: the gaps stand
    r.got_end = true;
    r.peer_measured_sent = 100;
    CHECK(hooks(recv.role).figures(recv).lost == 10); // exact once the note says 100
}
