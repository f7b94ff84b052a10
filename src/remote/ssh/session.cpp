// Connecting an ssh_session with timeouts, and running short commands on it.
#include "remote/ssh/session.hpp"

#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "remote/ssh/config.hpp"
#include "remote/ssh/jump.hpp"

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int max_jump_hosts = 8;

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
    // via_ (the jump this session ran over) goes after it, as a member.
}

std::string ssh_connection::route() const {
    std::vector<std::string> hops;
    for (const jump_link* j = via_.get(); j != nullptr; j = j->hop().via_.get())
        hops.insert(hops.begin(), j->hop().target());
    if (hops.empty()) return target_;
    return fmt::format("{} via {}", target_, fmt::join(hops, ", "));
}

result<std::unique_ptr<ssh_connection>> ssh_connection::open(const ssh_options& o, const log_sink& warn) {
    return open_at(o, warn, 0);
}

result<std::unique_ptr<ssh_connection>> ssh_connection::open_at(const ssh_options& o, const log_sink& warn,
                                                                int depth) {
    static std::once_flag init_once;
    std::call_once(init_once, [] { ssh_init(); });
    std::string name = o.host_name.empty() ? o.target.host : o.host_name;
    ssh_session s = ssh_new();
    if (s == nullptr) return fail(fmt::format("host {}: libssh: cannot allocate a session", name));
    std::unique_ptr<ssh_connection> conn(new ssh_connection(s, name, o.target.str()));
    const std::string& label = conn->label();

    // ssh_config is read once, here (apply_ssh_config), never again by ssh_connect.
    bool process_config = false;
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, o.target.host.c_str()) != SSH_OK)
        return fail(fmt::format("{}: libssh options: {}", label, ssh_get_error(s)));
    auto cfg = apply_ssh_config(s, o, warn);
    if (!cfg) return std::unexpected(cfg.error().context(label));
    ssh_options resolved = o;
    resolved.target = cfg->target;
    resolved.known_hosts = cfg->known_hosts;
    conn->target_ = cfg->target.str();

    // A jump host relays the next session's round trips (SFTP writes one 32 KiB block per round
    // trip): Nagle's delay on its socket would add to each.
    if (int nodelay = 1; depth > 0 && ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay) != SSH_OK)
        return fail(fmt::format("{}: libssh options: {}", label, ssh_get_error(s)));
    long timeout_s = static_cast<long>(o.connect_timeout.count() / 1000);
    long timeout_us = static_cast<long>((o.connect_timeout.count() % 1000) * 1000);
    if (ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout_s) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT_USEC, &timeout_us) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, cfg->known_hosts.c_str()) != SSH_OK)
        return fail(fmt::format("{}: libssh options: {}", label, ssh_get_error(s)));

    if (!cfg->jump.empty()) {
        if (depth >= max_jump_hosts)
            return fail(
                fmt::format("{}: more than {} jump hosts (a ProxyJump loop?)", label, max_jump_hosts));
        // The last hop is reached through the ones before it, as ssh -J a,b does.
        ssh_options hop = o;
        hop.target = cfg->jump.back();
        hop.jump.assign(cfg->jump.begin(), cfg->jump.end() - 1);
        hop.host_name = fmt::format("{} (jump host {})", name, hop.target.str());
        auto via = open_at(hop, warn, depth + 1);
        if (!via) return fail(via.error());
        int fd = -1;
        auto link = jump_link::open(std::move(*via), cfg->target.host, cfg->target.port, &fd);
        if (!link) return fail(link.error());
        conn->via_ = std::move(*link);
        socket_t sock = fd; // libssh owns it from here and closes it
        if (ssh_options_set(s, SSH_OPTIONS_FD, &sock) != SSH_OK) {
            ::close(fd);
            return fail(fmt::format("{}: libssh options: {}", label, ssh_get_error(s)));
        }
    }

    auto start = clock::now();
    if (ssh_connect(s) != SSH_OK) {
        auto took = std::chrono::duration_cast<milliseconds>(clock::now() - start);
        std::string where = fmt::format("{}: connect to {}:{}", label, cfg->target.host, cfg->target.port);
        if (conn->via_) where += " via " + conn->route().substr(conn->target_.size() + 5);
        // libssh words timeouts in several ways; the clock is the reliable witness.
        if (took + milliseconds(50) >= o.connect_timeout)
            return fail(
                make_error(fmt::format("{}: timed out after {}", where, seconds_text(o.connect_timeout)),
                           error_kind::timeout));
        return fail(fmt::format("{}: {}", where, ssh_get_error(s)));
    }
    if (auto r = verify_host_key(s, resolved, cfg->known_hosts, warn); !r)
        return fail(r.error().context(label));
    if (auto r = authenticate(s, resolved, *cfg); !r) return fail(r.error());
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
