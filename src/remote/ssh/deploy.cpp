// Self-deployment over SFTP: hash, architecture check, upload to a temporary name, atomic rename.
#include "remote/ssh/deploy.hpp"

#include <fcntl.h>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sys/utsname.h>
#include <vector>

#include <fmt/format.h>
#include <libssh/sftp.h>
#include <openssl/evp.h>

namespace kp::remote {

namespace {

constexpr auto command_timeout = std::chrono::seconds(10);

/// Splits "a\nb\nc\n" into lines.
std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        out.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

/// Frees an SFTP session on scope exit.
struct sftp_guard {
    sftp_session s;
    ~sftp_guard() { sftp_free(s); }
};

result<void> upload(ssh_connection& conn, const std::string& local, const std::string& dir,
                    const std::string& final_path) {
    auto what = [&](std::string_view step, std::string_view detail) {
        return fail(
            fmt::format("{}: uploading {} to {}: {}: {}", conn.label(), local, final_path, step, detail));
    };
    sftp_session sftp = sftp_new(conn.raw());
    if (sftp == nullptr) return what("starting SFTP", ssh_get_error(conn.raw()));
    sftp_guard guard{sftp};
    if (sftp_init(sftp) != SSH_OK)
        return what("starting SFTP (is the sftp subsystem enabled in sshd?)", ssh_get_error(conn.raw()));

    std::ifstream in(local, std::ios::binary);
    if (!in) return what("reading the local binary", "cannot open it");
    std::string tmp = fmt::format("{}/.kperf-plan.tmp-{:08x}", dir, std::random_device{}());
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
    if (!ok || in.bad()) {
        std::string detail = ssh_get_error(conn.raw());
        sftp_unlink(sftp, tmp.c_str());
        return what(fmt::format("writing {}", tmp), detail);
    }
    if (sftp_chmod(sftp, tmp.c_str(), 0755) != SSH_OK) {
        std::string detail = ssh_get_error(conn.raw());
        sftp_unlink(sftp, tmp.c_str());
        return what(fmt::format("chmod 755 {}", tmp), detail);
    }
    // The rename is what makes the binary appear, whole, under its final name. Another runner may
    // have won the race (plain SFTP rename refuses to overwrite): its copy is identical, keep it.
    if (sftp_rename(sftp, tmp.c_str(), final_path.c_str()) != SSH_OK) {
        std::string detail = ssh_get_error(conn.raw());
        sftp_attributes st = sftp_stat(sftp, final_path.c_str());
        sftp_unlink(sftp, tmp.c_str());
        if (st == nullptr) return what(fmt::format("renaming {}", tmp), detail);
        sftp_attributes_free(st);
    }
    return {};
}

} // namespace

result<std::string> sha256_file(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::string> cache;
    std::lock_guard lock(mu);
    if (auto it = cache.find(path); it != cache.end()) return it->second;

    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("hashing {}: cannot open it", path));
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return fail(fmt::format("hashing {}: OpenSSL cannot start SHA-256", path));
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) return fail(fmt::format("hashing {}: read error", path));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    std::string hex;
    for (unsigned int i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    cache[path] = hex;
    return hex;
}

std::string local_machine() {
    utsname u{};
    if (uname(&u) != 0) return "unknown";
    return u.machine;
}

result<deploy_report> deploy_binary(ssh_connection& conn, const std::string& local_binary) {
    auto sha = sha256_file(local_binary);
    if (!sha) return fail(sha.error().context(conn.label()));
    // One round trip answers all three questions: architecture, home, and whether we are there.
    std::string rel = fmt::format(".cache/kperf-plan/{}", *sha);
    auto probe =
        conn.run(fmt::format("uname -m; printf '%s\\n' \"$HOME\"; "
                             "if test -x \"$HOME/{}/kperf-plan\"; then echo present; else echo absent; fi",
                             rel),
                 command_timeout);
    if (!probe) return fail(probe.error());
    auto lines = lines_of(probe->out);
    if (lines.size() != 3 || lines[1].empty())
        return fail(fmt::format("{}: probing for the agent binary: unexpected answer '{}' (stderr: '{}')",
                                conn.label(), probe->out, probe->err));
    std::string local_arch = local_machine();
    if (lines[0] != local_arch)
        return fail(
            fmt::format("{}: architecture mismatch: the host is {} but this kperf-plan is built for {}; "
                        "install a {} build there and set agent_path",
                        conn.label(), lines[0], local_arch, lines[0]));
    deploy_report report;
    report.sha256 = *sha;
    std::string dir = fmt::format("{}/{}", lines[1], rel);
    report.remote_path = dir + "/kperf-plan";
    if (lines[2] == "present") return report;

    auto mk = conn.run(fmt::format("mkdir -p {}", shell_quote(dir)), command_timeout);
    if (!mk) return fail(mk.error());
    if (mk->exit_status != 0)
        return fail(
            fmt::format("{}: mkdir -p {}: {}", conn.label(), dir, mk->err.empty() ? "failed" : mk->err));
    if (auto up = upload(conn, local_binary, dir, report.remote_path); !up) return fail(up.error());
    report.uploaded = true;
    return report;
}

} // namespace kp::remote
