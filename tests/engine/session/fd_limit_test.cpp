// Running out of descriptors while establishing: the side that ran out says so, with the limit
// and how to raise it; the other side's error is marked as a consequence; both end at once.
#include <doctest/doctest.h>

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "engine/core/fd_limit.hpp"
#include "session_fixture.hpp"

using namespace kp::engine;
using namespace kp::engine::test;

namespace {

/// The open-file limit that leaves exactly `free` descriptors to open: the limit bounds the
/// descriptor numbers, and new ones fill the lowest free numbers first.
std::uint64_t limit_leaving(std::uint64_t free) {
    std::vector<std::uint64_t> open;
    DIR* d = opendir("/proc/self/fd");
    REQUIRE(d != nullptr);
    while (dirent* e = readdir(d)) {
        if (e->d_name[0] == '.') continue;
        int fd = std::atoi(e->d_name);
        if (fd != dirfd(d)) open.push_back(static_cast<std::uint64_t>(fd));
    }
    closedir(d);
    std::uint64_t limit = free;
    for (;;) {
        auto below = static_cast<std::uint64_t>(
            std::count_if(open.begin(), open.end(), [&](std::uint64_t fd) { return fd < limit; }));
        if (limit == free + below) return limit;
        limit = free + below;
    }
}

/// Lowers the soft open-file limit for its scope (the hard one stays, so it can be restored).
struct soft_limit {
    rlimit saved{};
    explicit soft_limit(std::uint64_t soft) {
        REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
        rlimit r = saved;
        r.rlim_cur = soft;
        REQUIRE(setrlimit(RLIMIT_NOFILE, &r) == 0);
    }
    ~soft_limit() { setrlimit(RLIMIT_NOFILE, &saved); }
};

std::string hard_text() {
    auto h = current_fd_limit().hard;
    return h == UINT64_MAX ? std::string("unlimited") : fmt::format("{}", h);
}

struct both {
    kp::result<void> client, server;
    std::chrono::steady_clock::duration took{};
};

/// Establishes a 100-flow stream job on loopback with room for `pairs` connections plus `extra`
/// descriptors: each connection takes one on the client side, then one on the server side.
both establish_short_of_fds(std::uint64_t pairs, std::uint64_t extra, std::uint64_t& limit) {
    auto job = short_job(traffic::tcp_stream);
    job.flows = 100;
    auto srv = listen(job, {"127.0.0.1", 0});
    REQUIRE(srv.has_value());
    auto cli = connect(job, {"127.0.0.1", (*srv)->port()});
    REQUIRE(cli.has_value());
    both out;
    limit = limit_leaving(2 * pairs + extra);
    soft_limit low(limit);
    const auto t0 = std::chrono::steady_clock::now();
    std::thread t([&] { out.server = (*srv)->establish(t0 + 20s); });
    out.client = (*cli)->establish(t0 + 20s);
    t.join();
    out.took = std::chrono::steady_clock::now() - t0;
    return out;
}

} // namespace

TEST_CASE("fd_limit: the message names the flows, the limit and how to raise it") {
    soft_limit low(300);
    kp::error e = kp::make_error("accept: Too many open files");
    e.sys_errno = EMFILE;
    CHECK(with_fd_limit(e, 1000, 1000).message ==
          fmt::format("accept: Too many open files: 1000 flows take at least 1000 descriptors on each side "
                      "(twice that on a host that runs both), and the open-file limit here is 300 (hard "
                      "limit {}); raise it with `ulimit -n` (or LimitNOFILE= for a systemd unit)",
                      hard_text()));
    e.sys_errno = ENFILE;
    CHECK(with_fd_limit(e, 1, 2).message ==
          "accept: Too many open files: 1 flow takes at least 2 descriptors on each side (twice that on a "
          "host that runs both), and the system-wide limit is reached; raise it with sysctl fs.file-max");
    CHECK(out_of_descriptors(EMFILE));
    CHECK(out_of_descriptors(ENFILE));
    CHECK_FALSE(out_of_descriptors(ECONNREFUSED));
}

TEST_CASE("fd_limit: raise_fd_limit lifts the soft limit to the hard one") {
    fd_limit before = current_fd_limit();
    {
        soft_limit low(64);
        CHECK(current_fd_limit().soft == 64);
        fd_limit after = raise_fd_limit();
        CHECK(after.hard == before.hard);
        if (before.hard != UINT64_MAX) CHECK(after.soft == before.hard);
    }
}

TEST_CASE("fd_limit: the side that runs out of descriptors names the limit; the other's error is a "
          "consequence; both end at once") {
    std::uint64_t limit = 0;
    // Room for a few connections of 100: which side takes the last descriptor depends on the
    // order the two threads open theirs in.
    auto r = establish_short_of_fds(5, 1, limit);
    CHECK(r.took < 5s);
    REQUIRE_FALSE(r.server.has_value());
    REQUIRE_FALSE(r.client.has_value());
    const std::string tail = fmt::format(
        "Too many open files: 100 flows take at least 100 descriptors on each side (twice that on "
        "a host that runs both), and the open-file limit here is {} (hard limit {}); raise it "
        "with `ulimit -n` (or LimitNOFILE= for a systemd unit)",
        limit, hard_text());
    const kp::error& s = r.server.error();
    const kp::error& c = r.client.error();
    INFO("server: " << s.message);
    INFO("client: " << c.message);
    CHECK(s.consequence != c.consequence); // one cause, one consequence
    if (!s.consequence) {
        CHECK(s.message == "accept: " + tail);
        // The shut listener resets the connection it had not accepted (or closes a pending hello):
        // "flow 5: connect 127.0.0.1:PORT: Connection reset by peer".
        CHECK(c.message.starts_with("flow "));
        CHECK(c.consequence);
    } else {
        CHECK(c.message.starts_with("flow "));
        CHECK(c.message.ends_with(": socket: " + tail));
        CHECK(s.message == "the client aborted establishing the data connections (its error says why)");
    }
}
