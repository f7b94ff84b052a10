// Host key verification against a known_hosts file. A changed key is never accepted.
#include <filesystem>

#include <fmt/format.h>

#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {

/// "ssh-ed25519 SHA256:abc…" of the server's key, for messages.
std::string describe_server_key(ssh_session s) {
    ssh_key key = nullptr;
    if (ssh_get_server_publickey(s, &key) != SSH_OK) return "unknown key";
    std::string out = ssh_key_type_to_char(ssh_key_type(key));
    unsigned char* hash = nullptr;
    size_t len = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) == SSH_OK) {
        char* fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
        if (fp != nullptr) {
            out += fmt::format(" {}", fp);
            ssh_string_free_char(fp);
        }
        ssh_clean_pubkey_hash(&hash);
    }
    ssh_key_free(key);
    return out;
}

} // namespace

result<void> verify_host_key(ssh_session s, const ssh_options& o, const std::string& file, const log_sink& note) {
    const std::string& host = o.target.host;
    // known_hosts names non-standard ports as [host]:port.
    std::string entry = o.target.port == 22 ? host : fmt::format("[{}]:{}", host, o.target.port);
    switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
        return {};
    case SSH_KNOWN_HOSTS_CHANGED:
        return fail(fmt::format(
            "HOST KEY OF {} HAS CHANGED (it now offers {}) - this may be a man-in-the-middle attack, not "
            "connecting; if the change is expected, verify the new key, then remove the old one with "
            "`ssh-keygen -f {} -R {}`",
            entry, describe_server_key(s), file, entry));
    case SSH_KNOWN_HOSTS_OTHER:
        return fail(fmt::format(
            "HOST KEY OF {} HAS CHANGED (it now offers {}, but {} records a key of another type) - this may "
            "be a man-in-the-middle attack, not connecting; if the change is expected, verify the new key, "
            "then remove the old one with `ssh-keygen -f {} -R {}`",
            entry, describe_server_key(s), file, file, entry));
    case SSH_KNOWN_HOSTS_NOT_FOUND:
    case SSH_KNOWN_HOSTS_UNKNOWN:
        break;
    case SSH_KNOWN_HOSTS_ERROR:
    default:
        return fail(fmt::format("checking the host key against {}: {}", file, ssh_get_error(s)));
    }
    if (!o.accept_new_host_key)
        return fail(fmt::format("host key of {} ({}) is not in {}; verify it and add it with "
                                "`ssh-keyscan -p {} {} >> {}`, or pass --accept-new-host-keys",
                                entry, describe_server_key(s), file, o.target.port, host, file));
    std::error_code ec;
    if (auto dir = std::filesystem::path(file).parent_path(); !dir.empty())
        std::filesystem::create_directories(dir, ec);
    if (ssh_session_update_known_hosts(s) != SSH_OK)
        return fail(fmt::format("recording the host key of {} in {}: {}", entry, file, ssh_get_error(s)));
    if (note)
        note(fmt::format("{}: recorded the new host key of {} ({}) in {} (--accept-new-host-keys); "
                         "check it against the host's own `ssh-keygen -lf` before trusting this run",
                         o.host_name.empty() ? o.target.host : o.host_name, entry, describe_server_key(s),
                         file));
    return {};
}

} // namespace kp::remote
