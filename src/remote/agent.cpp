#include "remote/agent.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "engine/forwarder/forwarder.hpp"
#include "engine/session/session.hpp"
#include "remote/agent_service.hpp"
#include "remote/capabilities.hpp"
#include "remote/keepalive.hpp"
#include "remote/protocol.hpp"

namespace kp::remote {

namespace {

// How long the agent waits for its worker threads after the control stream closed; together
// with the engine's stop this keeps "EOF -> exit" under the promised 2 s.
constexpr auto exit_grace = std::chrono::milliseconds(1500);

template <class... A> void log(fmt::format_string<A...> f, A&&... a) {
    // Not fmt::print: it throws when stderr is a closed pipe (the runner's SSH session is gone),
    // and the agent must still put its setups back then.
    const std::string line = fmt::format("agent[{}]: {}\n", getpid(), fmt::format(f, std::forward<A>(a)...));
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

/// Writes whole frames to the protocol fd, one at a time.
class frame_writer {
  public:
    explicit frame_writer(int fd) : fd_(fd) {}
    void send(const protocol::reply& r) {
        std::string frame = protocol::encode_frame(protocol::to_json(r));
        std::lock_guard lock(mutex_);
        std::size_t done = 0;
        while (done < frame.size()) {
            ssize_t n = ::write(fd_, frame.data() + done, frame.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return; // the runner is gone; the reader sees EOF and we exit
            done += static_cast<std::size_t>(n);
        }
    }

  private:
    int fd_;
    std::mutex mutex_;
};

/// SIGTERM (also the death signal when the parent goes, see agent_main) ends the agent as the end
/// of its control stream does: through this pipe, so that the setups are put back first.
int term_pipe[2] = {-1, -1};
extern "C" void on_term(int) {
    const char c = 't';
    [[maybe_unused]] auto n = ::write(term_pipe[1], &c, 1);
}

/// How long poll() may sleep: for ever without a keepalive, else until the idle limit runs out
/// (rounded up, so that it wakes past the limit rather than spinning just before it).
int poll_timeout(std::chrono::steady_clock::time_point last_heard, std::chrono::milliseconds limit) {
    if (limit.count() <= 0) return -1;
    auto left = last_heard + limit - std::chrono::steady_clock::now();
    if (left <= left.zero()) return 0;
    // At most an hour at a time: a huge keepalive_ms must not overflow poll's int.
    return static_cast<int>(
        std::min<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count(), 3'600'000));
}

protocol::reply stream_error(protocol::error_code code, std::string message) {
    protocol::reply r;
    r.ok = false;
    r.error = {code, std::move(message), "control stream"};
    return r;
}

} // namespace

namespace {

/// engine::open_forwarder as the service's factory wants it.
result<std::unique_ptr<engine::session>> forward(const engine::job_spec& job, const engine::endpoint& bind,
                                                 const engine::endpoint& next) {
    auto f = engine::open_forwarder(job, bind, next);
    if (!f) return fail(f.error());
    return std::unique_ptr<engine::session>(std::move(*f));
}

} // namespace

int agent_main() {
    // A write to a closed pipe must be an error value, not a death.
    ::signal(SIGPIPE, SIG_IGN);
    // Keep the protocol stream to ourselves: move it to a private fd and point fd 1 at stderr,
    // so a stray printf anywhere (a library, a debug line) cannot corrupt a frame.
    int out = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (out < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
        log("cannot set up the control stream: {}", std::strerror(errno));
        return 3;
    }
    // A local agent is started with PR_SET_PDEATHSIG SIGKILL (local_transport.cpp); a setup it
    // applied must still be put back when the runner dies, so the death signal becomes SIGTERM,
    // which ends the agent through the normal exit below. The end of stdin says the same.
    if (::pipe2(term_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
        struct sigaction sa {};
        sa.sa_handler = on_term;
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGTERM, &sa, nullptr);
        ::sigaction(SIGHUP, &sa, nullptr); // a session that hangs up (sshd) ends it the same way
        int pdeath = 0;
        if (::prctl(PR_GET_PDEATHSIG, &pdeath) == 0 && pdeath == SIGKILL) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    }
    frame_writer writer(out);
    capabilities caps = probe_capabilities();
    auto service =
        std::make_shared<agent_service>([&writer](const protocol::reply& r) { writer.send(r); }, caps,
                                        session_factory{engine::listen, engine::connect, forward});
    log("kperf-plan agent {} ready (protocol {})", caps.build_id, protocol::version);

    protocol::frame_decoder decoder;
    std::array<char, 64 * 1024> buf;
    std::string why = "end of control stream";
    // Any bytes are contact. A partition does not reset the runner's SSH connection, so without
    // this the agent and its sessions would stay on the host for ever (remote/keepalive.hpp).
    auto last_heard = std::chrono::steady_clock::now();
    while (!service->shutdown_requested()) {
        const auto limit = service->idle_limit();
        pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {term_pipe[0], POLLIN, 0}};
        int ready = ::poll(fds, term_pipe[0] >= 0 ? 2 : 1, poll_timeout(last_heard, limit));
        if (ready < 0 && errno != EINTR) {
            why = fmt::format("polling the control stream: {}", std::strerror(errno));
            break;
        }
        if (ready == 0 && limit.count() > 0 && std::chrono::steady_clock::now() - last_heard >= limit) {
            why = fmt::format("no contact from the runner for {}", keepalive::describe(limit));
            break;
        }
        if (ready <= 0) continue;
        if (term_pipe[0] >= 0 && (fds[1].revents & POLLIN)) {
            why = "terminated (SIGTERM or SIGHUP)";
            break;
        }
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            why = fmt::format("reading the control stream: {}", std::strerror(errno));
            break;
        }
        if (n == 0) {
            if (decoder.pending() > 0) {
                why = fmt::format("truncated frame: {}", decoder.truncation());
                writer.send(stream_error(protocol::error_code::bad_frame, why));
            }
            break;
        }
        last_heard = std::chrono::steady_clock::now();
        decoder.feed(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        bool desync = false;
        while (!service->shutdown_requested()) {
            auto frame = decoder.next();
            if (!frame) {
                // The length prefix is garbage: nothing after it can be framed. Say so and close.
                why = frame.error().message;
                writer.send(
                    stream_error(protocol::error_code::bad_frame, why + "; closing the control stream"));
                desync = true;
                break;
            }
            if (!*frame) break;
            auto req = protocol::parse_request(**frame);
            if (!req) {
                protocol::reply r;
                r.id = req.error().id;
                r.ok = false;
                r.error = req.error().error;
                writer.send(r);
                continue;
            }
            service->handle(*req);
        }
        if (desync) break;
    }
    if (service->shutdown_requested()) why = "shutdown requested";

    log("{}: stopping all sessions and exiting", why);
    service->stop_all();
    // Before anything that may hang: a host must not keep a setup because its runner went away.
    for (const auto& e : service->restore_setups())
        log("could not put back {}", e);
    if (!service->wait_idle(std::chrono::steady_clock::now() + exit_grace)) {
        // A session did not stop in time; exiting closes its sockets all the same.
        log("sessions still busy after {} ms; exiting anyway", exit_grace.count());
        std::fflush(stderr);
        ::_exit(0);
    }
    service->release_all();
    ::close(out);
    return 0;
}

} // namespace kp::remote
