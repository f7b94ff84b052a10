#pragma once
/// The plain job spec the engine runs: what traffic, how much, where to pin, which TLS.
/// It is filled by the runner from a plan, carried to agents as JSON (engine/wire/codec.hpp),
/// and holds no strings for things that are really enums.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace kp::engine {

/// The workload kinds.
enum class traffic : std::uint8_t { tcp_stream, tcp_rr, tcp_crr, udp_stream, udp_rr };
/// forward: the client sends; reverse: the server sends; bidir: both, on separate connections.
enum class direction : std::uint8_t { forward, reverse, bidir };
/// Open-loop arrival process when a rate is set.
enum class arrival : std::uint8_t { constant, poisson };
/// How a tcp_crr connection ends once its response is in (docs/engine.md, "tcp_crr").
/// server: the server closes once its response is written (as netperf): the TIME_WAIT is the
/// server's, which no source-port search walks.
/// reset: the client closes with SO_LINGER 0 (an RST, as neper): no TIME_WAIT on either side.
/// client: the client closes first (a FIN) and leaves a TIME_WAIT per connection on its side.
enum class crr_close : std::uint8_t { server, reset, client };

/// Where a worker is pinned, relative to the CPU that serves its flows' Rx (SO_INCOMING_CPU).
struct placement_rule {
    enum class kind : std::uint8_t { any, rx, cpus };
    kind how = kind::any;
    int offset = 0;        ///< with `rx`: rx+N / rx-N, wrapping over the allowed CPUs
    std::vector<int> cpus; ///< with `cpus`: an explicit CPU list ("0-3,8")
    friend bool operator==(const placement_rule&, const placement_rule&) = default;
};

enum class tls_mode : std::uint8_t { none, openssl, ktls, automatic };
enum class tls_version : std::uint8_t { v1_2, v1_3 };
enum class tls_cipher : std::uint8_t { aes_128_gcm, aes_256_gcm, chacha20_poly1305 };

/// TLS settings of a job. The server generates its ephemeral certificate at listen time and
/// reports its fingerprint; the client pins it.
struct tls_spec {
    tls_mode mode = tls_mode::none;
    tls_version version = tls_version::v1_3;
    tls_cipher cipher = tls_cipher::aes_128_gcm;
    bool ktls_tx = true;          ///< with ktls: offload the sending direction
    bool ktls_rx = true;          ///< with ktls: offload the receiving direction
    std::string peer_fingerprint; ///< client side: SHA-256 of the server certificate, hex
    friend bool operator==(const tls_spec&, const tls_spec&) = default;
};

/// Optional socket options; zero / empty means "leave the kernel default".
struct socket_options {
    int sndbuf = 0;
    int rcvbuf = 0;
    bool nodelay = false;
    std::string congestion;            ///< TCP_CONGESTION, e.g. "cubic"
    std::uint64_t max_pacing_rate = 0; ///< SO_MAX_PACING_RATE, bytes/s
    bool zerocopy = false;             ///< MSG_ZEROCOPY on send
    friend bool operator==(const socket_options&, const socket_options&) = default;
};

/// Everything one side (client or server) needs to run one scenario instance.
struct job_spec {
    traffic kind = traffic::tcp_stream;
    direction dir = direction::forward;
    std::uint32_t flows = 1;
    std::uint32_t workers = 0; ///< 0: min(flows, allowed CPUs)

    std::uint32_t write_size = 64 * 1024; ///< tcp_stream / udp_stream
    std::uint32_t read_size = 64 * 1024;
    std::uint32_t request_size = 64; ///< rr / crr
    std::uint32_t response_size = 64;
    std::uint32_t in_flight = 1;         ///< requests pipelined per flow (rr)
    crr_close close = crr_close::server; ///< tcp_crr: who ends each connection, and how

    double rate = 0; ///< messages/s for the whole job (transactions, connections or datagrams); 0 = unlimited
    arrival arrivals = arrival::constant;
    std::chrono::nanoseconds timeout{
        std::chrono::milliseconds(200)}; ///< udp_rr: a reply later than this is lost

    std::chrono::nanoseconds warmup{std::chrono::seconds(2)};
    std::chrono::nanoseconds duration{std::chrono::seconds(10)};

    placement_rule placement;
    bool distinct_rx = false;
    bool verify = false;    ///< check the payload pattern on receive
    bool histograms = true; ///< record latency histograms
    bool flow_detail =
        false; ///< report every flow in full; otherwise many flows are folded (engine/stats/fold.hpp)

    tls_spec tls;
    socket_options sockopts;

    std::string token; ///< the run token every data connection must present in its hello
    std::string id;    ///< the scenario instance id, for messages
    friend bool operator==(const job_spec&, const job_spec&) = default;
};

} // namespace kp::engine
