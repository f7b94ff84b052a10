#pragma once
// Local agents for tests: `$KPERF_PLAN_BIN agent` through the local transport, either raw (frames
// by hand) or behind an agent_client.
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "remote/agent_client.hpp"
#include "remote/local_transport.hpp"
#include "remote/protocol.hpp"

namespace kp::remote::test {

using namespace std::chrono_literals;

/// The binary under test.
inline std::string agent_binary() {
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
    return bin;
}

/// Collects an agent's stderr lines.
struct log_lines {
    std::mutex mutex;
    std::vector<std::string> lines;
    log_sink sink() {
        return [this](const std::string& line) {
            std::lock_guard lock(mutex);
            lines.push_back(line);
        };
    }
};

/// Spawns `$KPERF_PLAN_BIN agent` named `host`.
inline std::unique_ptr<local_transport> spawn_agent(const std::string& host, log_lines* log = nullptr) {
    local_options o;
    o.host_name = host;
    o.executable = agent_binary();
    if (log) o.sink = log->sink();
    auto t = local_transport::spawn(std::move(o));
    REQUIRE_MESSAGE(t.has_value(), (t ? "" : t.error().message));
    return std::move(*t);
}

/// An agent driven by hand-made frames.
struct raw_agent {
    log_lines log;
    std::unique_ptr<local_transport> link = spawn_agent("raw", &log);
    protocol::frame_decoder decoder;

    void send_bytes(const std::string& bytes) {
        auto r = link->write_all(std::as_bytes(std::span(bytes.data(), bytes.size())));
        REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    }
    void send(const nlohmann::json& j) { send_bytes(protocol::encode_frame(j)); }

    /// The next reply, or nothing at end of stream; fails the test after `timeout`.
    std::optional<protocol::reply> next(std::chrono::milliseconds timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::array<std::byte, 4096> buf;
        for (;;) {
            auto f = decoder.next();
            REQUIRE(f.has_value());
            if (*f) {
                auto r = protocol::parse_reply(**f);
                REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
                return *r;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            REQUIRE_MESSAGE(left.count() > 0, "no reply from the agent in time");
            auto n = link->read_some(buf, left);
            if (!n && n.error().message == read_timeout_message) continue;
            REQUIRE_MESSAGE(n.has_value(), (n ? "" : n.error().message));
            if (*n == 0) return std::nullopt;
            decoder.feed(std::span<const std::byte>(buf.data(), *n));
        }
    }

    /// Sends a hello the agent accepts.
    void greet() {
        send({{"id", 0},
              {"type", "hello"},
              {"timeout_ms", 1000},
              {"args", {{"protocol", protocol::version}}}});
        auto r = next();
        REQUIRE(r.has_value());
        REQUIRE(r->ok);
    }
};

/// An agent_client over a fresh local agent; `transport_out` receives the transport's address.
inline std::unique_ptr<agent_client>
start_client(const std::string& host, local_transport** transport_out = nullptr, log_lines* log = nullptr) {
    auto t = spawn_agent(host, log);
    if (transport_out) *transport_out = t.get();
    auto c = agent_client::start(host, std::move(t), 5s);
    REQUIRE_MESSAGE(c.has_value(), (c ? "" : c.error().message));
    return std::move(*c);
}

} // namespace kp::remote::test
