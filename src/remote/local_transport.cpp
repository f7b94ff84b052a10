#include "remote/local_transport.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <fmt/format.h>

namespace kp::remote {

namespace bp = boost::process;

/// The stderr forwarder: a thread that reads the child's stderr until EOF.
struct local_transport::state {
    std::thread thread;
};

namespace {

void forward_stderr(int fd, std::string host, log_sink sink) {
    std::string partial;
    std::array<char, 4096> buf;
    auto emit = [&](std::string_view line) {
        std::string text = fmt::format("{}: {}", host, line);
        if (sink)
            sink(text);
        else
            fmt::print(stderr, "{}\n", text);
    };
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        partial.append(buf.data(), static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
            emit(std::string_view(partial).substr(0, nl));
            partial.erase(0, nl + 1);
        }
    }
    if (!partial.empty()) emit(partial);
    ::close(fd);
}

/// Runs `job` on a thread that lives as long as the process, and waits for it.
void on_spawner_thread(const std::function<void()>& job) {
    struct queue {
        std::mutex mutex;
        std::condition_variable ready;
        std::deque<std::packaged_task<void()>> jobs;
    };
    // Leaked on purpose: the detached thread waits on it until the process ends.
    static queue* q = [] {
        auto* fresh = new queue;
        std::thread([fresh] {
            for (;;) {
                std::unique_lock lock(fresh->mutex);
                fresh->ready.wait(lock, [&] { return !fresh->jobs.empty(); });
                auto task = std::move(fresh->jobs.front());
                fresh->jobs.pop_front();
                lock.unlock();
                task();
            }
        }).detach();
        return fresh;
    }();
    std::packaged_task<void()> task(job);
    auto done = task.get_future();
    {
        std::lock_guard lock(q->mutex);
        q->jobs.push_back(std::move(task));
    }
    q->ready.notify_one();
    done.get();
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return fmt::format("exit code {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
    return fmt::format("wait status {}", status);
}

} // namespace

result<std::unique_ptr<local_transport>> local_transport::spawn(local_options options) {
    // A write to an agent that died must come back as EPIPE, not kill the runner.
    ::signal(SIGPIPE, SIG_IGN);
    std::array<int, 2> in{}, out{}, err{};
    // O_CLOEXEC: our ends must not leak into other children (another agent holding this
    // agent's stdin open would keep it from ever seeing EOF).
    if (::pipe2(in.data(), O_CLOEXEC) != 0) return fail(errno_error("pipe"));
    if (::pipe2(out.data(), O_CLOEXEC) != 0) {
        auto e = errno_error("pipe");
        for (int fd : in)
            ::close(fd);
        return fail(e);
    }
    if (::pipe2(err.data(), O_CLOEXEC) != 0) {
        auto e = errno_error("pipe");
        for (int fd : {in[0], in[1], out[0], out[1]})
            ::close(fd);
        return fail(e);
    }
    bp::pipe pin(in[0], in[1]), pout(out[0], out[1]), perr(err[0], err[1]);

    pid_t parent = ::getpid();
    std::error_code ec;
    pid_t pid = -1;
    // PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process: fork from a
    // thread that lives as long as the runner, or an agent started from a short-lived worker
    // thread would be killed with it.
    on_spawner_thread([&] {
        bp::child child(
            bp::exe = options.executable, bp::args = options.args, bp::std_in<pin, bp::std_out> pout,
            bp::std_err > perr,
            bp::extend::on_exec_setup =
                [parent](auto&) {
                    // Runs in the child between fork and exec: async-signal-safe calls only.
                    // Nothing of the runner's but stdio reaches the agent.
                    ::close_range(3, UINT_MAX, CLOSE_RANGE_CLOEXEC);
                    // Belt and braces to stdin EOF: die with the runner.
                    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
                    if (::getppid() != parent) ::_exit(1); // the runner died before prctl
                },
            ec);
        if (!ec) {
            pid = child.id();
            child.detach(); // we reap it ourselves, to report how it ended
        }
    });
    // Boost closed the child's ends on success (and on error); keep ours.
    int in_fd = pin.native_sink(), out_fd = pout.native_source(), err_fd = perr.native_source();
    pin.assign_sink(-1);
    pout.assign_source(-1);
    perr.assign_source(-1);
    if (ec) {
        for (int fd : {in_fd, out_fd, err_fd})
            ::close(fd);
        return fail(fmt::format("starting {}: {}", options.executable, ec.message()));
    }

    std::unique_ptr<local_transport> t(new local_transport());
    t->pid_ = pid;
    t->in_ = in_fd;
    t->out_ = out_fd;
    t->err_ = std::make_shared<state>();
    t->err_->thread = std::thread(forward_stderr, err_fd, options.host_name, options.sink);
    t->options_ = std::move(options);
    return t;
}

local_transport::~local_transport() {
    close();
}

result<void> local_transport::write_all(std::span<const std::byte> bytes) {
    int fd = in_;
    if (fd < 0) return fail("agent's stdin is closed");
    std::size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error("writing to the agent"));
        done += static_cast<std::size_t>(n);
    }
    return {};
}

result<std::size_t> local_transport::read_some(std::span<std::byte> into, std::chrono::milliseconds timeout) {
    if (out_ < 0) return std::size_t{0};
    pollfd p{out_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r < 0 && errno != EINTR) return fail(errno_error("waiting for the agent"));
    if (r <= 0) return fail(make_error(std::string(read_timeout_message), error_kind::timeout));
    for (;;) {
        ssize_t n = ::read(out_, into.data(), into.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno_error("reading from the agent"));
        return static_cast<std::size_t>(n);
    }
}

bool local_transport::reap(std::chrono::milliseconds wait) {
    if (reaped_ || pid_ < 0) return true;
    auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        pid_t r = ::waitpid(pid_, &status_, WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            reaped_ = true;
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

std::string local_transport::exit_status() {
    if (!reap(std::chrono::milliseconds(1000))) return "still running";
    return describe_status(status_);
}

void local_transport::close_input() {
    if (int fd = in_.exchange(-1); fd >= 0) ::close(fd); // EOF: the agent stops its sessions and exits
}

void local_transport::close() {
    close_input();
    if (!reap(options_.close_grace)) {
        ::kill(pid_, SIGKILL);
        reap(std::chrono::milliseconds(2000));
    }
    if (out_ >= 0) {
        ::close(out_);
        out_ = -1;
    }
    if (err_ && err_->thread.joinable()) err_->thread.join();
}

std::string local_transport::describe() const {
    return fmt::format("local pid {}", pid_);
}

} // namespace kp::remote
