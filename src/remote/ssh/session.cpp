// Connecting an ssh_session with timeouts, and running short commands on it.
#include "remote/ssh/session.hpp"

#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string seconds_text(milliseconds d) {
    if (d.count() % 1000 == 0) return fmt::format("{}s", d.count() / 1000);
    return fmt::format("{}ms", d.count());
}

} // namespace

std::string known_hosts_path(const ssh_options& options) {
    if (!options.known_hosts.empty()) return options.known_hosts;
    const char* home = std::getenv("HOME");
    return fmt::format("{}/.ssh/known_hosts", home != nullptr ? home : "");
}

std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'')
            q += "'\\''";
        else
            q += c;
    }
    return q + "'";
}

ssh_connection::ssh_connection(ssh_session s, std::string name, std::string target)
    : session_(s), name_(std::move(name)), label_("host " + name_), target_(std::move(target)) {}

ssh_connection::~ssh_connection() {
    if (ssh_is_connected(session_) != 0) ssh_disconnect(session_);
    ssh_free(session_);
}

result<std::unique_ptr<ssh_connection>> ssh_connection::open(const ssh_options& o) {
    static std::once_flag init_once;
    std::call_once(init_once, [] { ssh_init(); });
    std::string name = o.host_name.empty() ? o.target.host : o.host_name;
    ssh_session s = ssh_new();
    if (s == nullptr) return fail(fmt::format("host {}: libssh: cannot allocate a session", name));
    std::unique_ptr<ssh_connection> conn(new ssh_connection(s, name, o.target.str()));
    const std::string& label = conn->label();

    // The plan says everything; ~/.ssh/config must not silently change user, port or keys.
    bool process_config = false;
    unsigned int port = o.target.port;
    long timeout_s = static_cast<long>(o.connect_timeout.count() / 1000);
    long timeout_us = static_cast<long>((o.connect_timeout.count() % 1000) * 1000);
    std::string known_hosts = known_hosts_path(o);
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, o.target.host.c_str()) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_USER, o.target.user.c_str()) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &timeout_us) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, known_hosts.c_str()) != SSH_OK)
        return fail(fmt::format("{}: libssh options: {}", label, ssh_get_error(s)));

    auto start = clock::now();
    if (ssh_connect(s) != SSH_OK) {
        auto took = std::chrono::duration_cast<milliseconds>(clock::now() - start);
        std::string where = fmt::format("{}: connect to {}:{}", label, o.target.host, o.target.port);
        // libssh words timeouts in several ways; the clock is the reliable witness.
        if (took + milliseconds(50) >= o.connect_timeout)
            return fail(
                make_error(fmt::format("{}: timed out after {}", where, seconds_text(o.connect_timeout)),
                           error_kind::timeout));
        return fail(fmt::format("{}: {}", where, ssh_get_error(s)));
    }
    if (auto r = verify_host_key(s, o, known_hosts); !r) return fail(r.error().context(label));
    if (auto r = authenticate(s, o); !r) return fail(r.error());
    return conn;
}

result<command_output> ssh_connection::run(const std::string& command, milliseconds timeout) {
    auto what = [&](std::string_view msg) {
        return fail(fmt::format("{}: running `{}`: {}", label_, command, msg));
    };
    ssh_channel ch = ssh_channel_new(session_);
    if (ch == nullptr) return what(ssh_get_error(session_));
    std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)> guard(ch, [](ssh_channel c) {
        ssh_channel_close(c);
        ssh_channel_free(c);
    });
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, command.c_str()) != SSH_OK)
        return what(ssh_get_error(session_));
    command_output res;
    char buf[4096];
    auto deadline = clock::now() + timeout;
    while (ssh_channel_is_eof(ch) == 0) {
        auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return what(fmt::format("no answer within {}", seconds_text(timeout)));
        int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0,
                                         static_cast<int>(std::min<long>(left.count(), 100)));
        if (n == SSH_ERROR) return what(ssh_get_error(session_));
        if (n > 0) res.out.append(buf, static_cast<std::size_t>(n));
        int m = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1);
        if (m == SSH_ERROR) return what(ssh_get_error(session_));
        if (m > 0) res.err.append(buf, static_cast<std::size_t>(m));
    }
    res.exit_status = ssh_channel_get_exit_status(ch);
    return res;
}

} // namespace kp::remote
