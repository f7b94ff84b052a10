// The SSH transport: an exec channel on one session, driven by a single pump thread.
//
// libssh sessions are not thread-safe, and agent_client reads in one thread while it writes from
// another. So one pump thread owns the session and the channel and moves bytes between them and
// two queues; write_all() and read_some() only touch the queues. close() stops the pump, then
// finishes the channel itself.
#include "remote/ssh/transport.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <libssh/callbacks.h>

#include "remote/ssh/deploy.hpp"
#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t max_queued_output = 1 << 20;
constexpr milliseconds pump_idle_poll{200};
constexpr milliseconds close_grace{3000};

/// "KILL" -> 9, for "killed by signal 9".
int signal_number(const char* name) {
    for (int sig = 1; sig < 32; ++sig)
        if (const char* abbrev = sigabbrev_np(sig); abbrev != nullptr && std::strcmp(abbrev, name) == 0)
            return sig;
    return 0;
}

class ssh_transport final : public transport {
  public:
    ssh_transport(std::unique_ptr<ssh_connection> conn, ssh_channel ch, log_sink sink)
        : conn_(std::move(conn)), target_(conn_->route()), ch_(ch), sink_(std::move(sink)),
          wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
        std::memset(&callbacks_, 0, sizeof callbacks_);
        callbacks_.userdata = this;
        callbacks_.channel_exit_status_function = [](ssh_session, ssh_channel, int status, void* self) {
            static_cast<ssh_transport*>(self)->note_exit(fmt::format("exit code {}", status));
        };
        callbacks_.channel_exit_signal_function = [](ssh_session, ssh_channel, const char* sig, int,
                                                     const char*, const char*, void* self) {
            int n = signal_number(sig);
            static_cast<ssh_transport*>(self)->note_exit(n != 0 ? fmt::format("killed by signal {}", n)
                                                                : fmt::format("killed by signal {}", sig));
        };
        ssh_callbacks_init(&callbacks_);
        ssh_set_channel_callbacks(ch_, &callbacks_);
        pump_ = std::thread([this] { pump(); });
    }

    ~ssh_transport() override {
        close();
        if (wake_ >= 0) ::close(wake_);
    }

    result<void> write_all(std::span<const std::byte> bytes) override {
        std::unique_lock lock(mu_);
        // Back-pressure: an agent that stops reading must not make us queue without bound.
        cv_.wait(lock, [&] { return out_.size() < max_queued_output || failed_ || stopping_; });
        if (failed_) return fail(failed_->context(describe()));
        if (stopping_ || eof_)
            return fail(fmt::format("{}: the agent's control stream is closed", describe()));
        out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        lock.unlock();
        wake();
        return {};
    }

    result<std::size_t> read_some(std::span<std::byte> into, milliseconds timeout) override {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, timeout, [&] { return !in_.empty() || eof_ || failed_ || stopping_; });
        if (!in_.empty()) {
            std::size_t n = std::min(into.size(), in_.size());
            std::memcpy(into.data(), in_.data(), n);
            in_.erase(0, n);
            return n;
        }
        if (eof_ || stopping_) return 0;
        if (failed_) return fail(failed_->context(describe()));
        return fail(make_error(std::string(read_timeout_message), error_kind::timeout));
    }

    void close() override {
        {
            std::lock_guard lock(mu_);
            if (closed_) return;
            closed_ = stopping_ = true;
        }
        cv_.notify_all();
        wake();
        if (pump_.joinable()) pump_.join();
        // The pump is gone: this thread owns the session now. EOF on stdin makes the agent exit;
        // wait a little for it so its last stderr lines reach the log and the exit is reported.
        if (!failed_ && ssh_channel_is_open(ch_) != 0) {
            ssh_channel_send_eof(ch_);
            auto deadline = clock::now() + close_grace;
            char buf[4096];
            while (ssh_channel_is_eof(ch_) == 0 && clock::now() < deadline) {
                int n = ssh_channel_read_timeout(ch_, buf, sizeof buf, 0, 100);
                int m = ssh_channel_read_nonblocking(ch_, buf, sizeof buf, 1);
                if (m > 0) forward_stderr(buf, static_cast<std::size_t>(m));
                if (n == SSH_ERROR || m == SSH_ERROR) break;
            }
            flush_stderr();
        }
        ssh_channel_close(ch_);
        ssh_channel_free(ch_);
        ch_ = nullptr;
        conn_.reset(); // disconnects
    }

    [[nodiscard]] std::string describe() const override { return "ssh " + target_; }

    std::string exit_status() override {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, milliseconds(2000), [&] { return !exit_.empty() || exit_known_; });
        return exit_;
    }

  private:
    void note_exit(std::string what) {
        {
            std::lock_guard lock(mu_);
            exit_ = std::move(what);
        }
        cv_.notify_all();
    }

    void wake() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
    }

    void set_failed(std::string msg) {
        {
            std::lock_guard lock(mu_);
            failed_ = make_error(std::move(msg));
        }
        cv_.notify_all();
    }

    void forward_stderr(const char* data, std::size_t n) {
        err_line_.append(data, n);
        std::size_t nl;
        while ((nl = err_line_.find('\n')) != std::string::npos) {
            if (sink_) sink_(fmt::format("{}: {}", conn_->name(), err_line_.substr(0, nl)));
            err_line_.erase(0, nl + 1);
        }
    }

    void flush_stderr() {
        if (!err_line_.empty() && sink_) sink_(fmt::format("{}: {}", conn_->name(), err_line_));
        err_line_.clear();
    }

    /// Moves bytes until close() or the end of the stream; never blocks longer than pump_idle_poll.
    void pump() {
        ssh_session s = conn_->raw();
        std::optional<clock::time_point> stop_deadline;
        char buf[16 * 1024];
        while (true) {
            std::string chunk;
            {
                std::lock_guard lock(mu_);
                if (stopping_ && !stop_deadline) stop_deadline = clock::now() + milliseconds(1000);
                // Flush queued requests before stopping, but not forever.
                if (stopping_ && (out_.empty() || clock::now() > *stop_deadline)) return;
                std::size_t window = ssh_channel_window_size(ch_);
                chunk = out_.substr(0, std::min<std::size_t>(window, buf_limit));
            }
            bool progress = false;
            if (!chunk.empty()) {
                int n = ssh_channel_write(ch_, chunk.data(), static_cast<std::uint32_t>(chunk.size()));
                if (n == SSH_ERROR)
                    return set_failed(fmt::format("writing to the agent: {}", ssh_get_error(s)));
                {
                    std::lock_guard lock(mu_);
                    out_.erase(0, static_cast<std::size_t>(n));
                }
                cv_.notify_all();
                progress = n > 0;
            }
            int n = ssh_channel_read_nonblocking(ch_, buf, sizeof buf, 0);
            if (n > 0) {
                {
                    std::lock_guard lock(mu_);
                    in_.append(buf, static_cast<std::size_t>(n));
                }
                cv_.notify_all();
                progress = true;
            }
            int m = ssh_channel_read_nonblocking(ch_, buf, sizeof buf, 1);
            if (m > 0) {
                forward_stderr(buf, static_cast<std::size_t>(m));
                progress = true;
            }
            if (n == SSH_ERROR || m == SSH_ERROR)
                return set_failed(fmt::format("reading from the agent: {}", ssh_get_error(s)));
            if (ssh_channel_is_eof(ch_) != 0) return finish_eof();
            if (progress) continue;
            pollfd fds[2] = {{ssh_get_fd(s), POLLIN, 0}, {wake_, POLLIN, 0}};
            ::poll(fds, 2, static_cast<int>(pump_idle_poll.count()));
            std::uint64_t drained;
            [[maybe_unused]] auto r = ::read(wake_, &drained, sizeof drained);
        }
    }

    /// The agent closed its stdout: collect its exit status (the callbacks record it), then stop.
    void finish_eof() {
        flush_stderr();
        ssh_channel_get_exit_status(ch_); // processes packets until exit-status/-signal or close
        {
            std::lock_guard lock(mu_);
            eof_ = true;
            exit_known_ = true;
        }
        cv_.notify_all();
    }

    static constexpr std::size_t buf_limit = 32 * 1024;
    std::unique_ptr<ssh_connection> conn_;
    std::string target_;
    ssh_channel ch_;
    log_sink sink_;
    int wake_;
    ssh_channel_callbacks_struct callbacks_;
    std::thread pump_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::string out_;
    std::string in_;
    std::string err_line_;
    std::string exit_;
    bool exit_known_ = false;
    bool eof_ = false;
    bool stopping_ = false;
    bool closed_ = false;
    std::optional<error> failed_;
};

/// Opens an exec channel running `command` and wraps it as a transport.
result<std::unique_ptr<transport>> start_channel(std::unique_ptr<ssh_connection> conn,
                                                 const std::string& command, log_sink sink) {
    ssh_channel ch = ssh_channel_new(conn->raw());
    if (ch == nullptr || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
        std::string msg =
            fmt::format("{}: starting `{}`: {}", conn->label(), command, ssh_get_error(conn->raw()));
        if (ch != nullptr) ssh_channel_free(ch);
        return fail(msg);
    }
    return std::unique_ptr<transport>(std::make_unique<ssh_transport>(std::move(conn), ch, std::move(sink)));
}

/// The shell command that runs `path` as the agent; "~/x" is taken relative to the remote home.
std::string agent_command(const std::string& path) {
    if (path.starts_with("~/")) return fmt::format("exec \"$HOME\"/{} agent", shell_quote(path.substr(2)));
    return fmt::format("exec {} agent", shell_quote(path));
}

} // namespace

result<std::unique_ptr<transport>> open_ssh_command(const ssh_options& options, const std::string& command,
                                                    log_sink sink) {
    auto conn = ssh_connection::open(options, sink);
    if (!conn) return fail(conn.error());
    return start_channel(std::move(*conn), command, std::move(sink));
}

result<std::unique_ptr<transport>> open_ssh_agent(const ssh_options& options, const std::string& local_binary,
                                                  log_sink sink, deploy_report* report) {
    auto conn = ssh_connection::open(options, sink);
    if (!conn) return fail(conn.error());
    deploy_report rep;
    if (!options.agent_path.empty()) {
        rep.remote_path = options.agent_path;
        rep.method = "agent_path";
    } else {
        auto deployed = deploy_binary(**conn, local_binary);
        if (!deployed) return fail(deployed.error());
        rep = *deployed;
    }
    if (report != nullptr) *report = rep;
    return start_channel(std::move(*conn), agent_command(rep.remote_path), std::move(sink));
}

} // namespace kp::remote
