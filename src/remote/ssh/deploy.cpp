// Self-deployment over SSH: the checks and the rename run on exec channels (stream_deploy); the
// bytes go over SFTP when the server has the subsystem, else through `cat > tmp`.
#include "remote/ssh/deploy.hpp"

#include <fcntl.h>

#include <fstream>
#include <vector>

#include <fmt/format.h>
#include <libssh/sftp.h>

namespace kp::remote {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds command_timeout{60000};

/// Runs `script` on an exec channel with `input` on its stdin (then EOF); collects stdout.
result<shell_output> run_with_input(ssh_connection& conn, const std::string& script, std::string_view input) {
    ssh_session s = conn.raw();
    auto what = [&](std::string_view msg) {
        return fail(fmt::format("{}: deploying: running a shell command: {}", conn.label(), msg));
    };
    ssh_channel ch = ssh_channel_new(s);
    if (ch == nullptr) return what(ssh_get_error(s));
    std::unique_ptr<ssh_channel_struct, void (*)(ssh_channel)> guard(ch, [](ssh_channel c) {
        ssh_channel_close(c);
        ssh_channel_free(c);
    });
    if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, script.c_str()) != SSH_OK)
        return what(ssh_get_error(s));
    shell_output res;
    char buf[4096];
    auto deadline = clock::now() + command_timeout;
    std::size_t sent = 0;
    bool eof_sent = false;
    while (ssh_channel_is_eof(ch) == 0) {
        if (clock::now() > deadline) return what("no answer within 60s");
        if (sent < input.size()) {
            std::size_t n = std::min<std::size_t>(input.size() - sent, 32 * 1024);
            int w = ssh_channel_write(ch, input.data() + sent, static_cast<std::uint32_t>(n));
            if (w == SSH_ERROR) return what(ssh_get_error(s));
            sent += static_cast<std::size_t>(w);
        } else if (!eof_sent) {
            ssh_channel_send_eof(ch);
            eof_sent = true;
        }
        int n = ssh_channel_read_timeout(ch, buf, sizeof buf, 0, sent < input.size() ? 0 : 100);
        if (n == SSH_ERROR) return what(ssh_get_error(s));
        if (n > 0) res.out.append(buf, static_cast<std::size_t>(n));
        int m = ssh_channel_read_nonblocking(ch, buf, sizeof buf, 1);
        if (m == SSH_ERROR) return what(ssh_get_error(s));
        if (m > 0) res.out.append(buf, static_cast<std::size_t>(m));
    }
    res.exit_status = ssh_channel_get_exit_status(ch);
    return res;
}

/// Frees an SFTP session on scope exit.
struct sftp_guard {
    sftp_session s;
    ~sftp_guard() { sftp_free(s); }
};

/// Uploads to `tmp` over SFTP; false when the server has no SFTP subsystem.
result<bool> sftp_upload(ssh_connection& conn, const std::string& local, const std::string& tmp) {
    auto what = [&](std::string_view step, std::string_view detail) {
        return fail(fmt::format("{}: uploading {} to {}: {}: {}", conn.label(), local, tmp, step, detail));
    };
    sftp_session sftp = sftp_new(conn.raw());
    if (sftp == nullptr) return false; // the subsystem request was refused
    sftp_guard guard{sftp};
    if (sftp_init(sftp) != SSH_OK) return false;

    std::ifstream in(local, std::ios::binary);
    if (!in) return what("reading the local binary", "cannot open it");
    sftp_file f = sftp_open(sftp, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0700);
    if (f == nullptr) return what(fmt::format("creating {}", tmp), ssh_get_error(conn.raw()));
    // 32 KiB is the write size every SFTP server must take (OpenSSH takes more, others may not).
    std::vector<char> buf(32 * 1024);
    bool ok = true;
    while (ok && in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        auto n = static_cast<std::size_t>(in.gcount());
        if (n > 0 && sftp_write(f, buf.data(), n) != static_cast<ssize_t>(n)) ok = false;
    }
    if (sftp_close(f) != SSH_NO_ERROR) ok = false;
    if (!ok || in.bad()) return what(fmt::format("writing {}", tmp), ssh_get_error(conn.raw()));
    return true;
}

} // namespace

result<deploy_report> deploy_binary(ssh_connection& conn, const std::string& local_binary) {
    host_shell shell = [&conn](const std::string& script, std::string_view input) {
        return run_with_input(conn, script, input);
    };
    uploader sftp = [&](const std::string& tmp) { return sftp_upload(conn, local_binary, tmp); };
    auto d = deploy_over_shell(shell, conn.label(), local_binary, sftp);
    if (!d) return fail(d.error());
    deploy_report report;
    report.sha256 = *sha256_file(local_binary);
    report.remote_path = d->remote_path;
    report.uploaded = d->uploaded;
    report.method = !d->uploaded ? "cached" : d->through_shell ? "exec" : "sftp";
    return report;
}

} // namespace kp::remote
