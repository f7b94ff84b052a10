// Public-key authentication in a fixed order: ssh-agent, the plan's identity, ssh_config's
// IdentityFile ones, the default keys.
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "remote/ssh/config.hpp"
#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {

/// SSH_AUTH_SUCCESS, SSH_AUTH_DENIED, ... for one key file; `tried` gets what was offered.
int try_key_file(ssh_session s, const std::string& path, std::string_view what,
                 std::vector<std::string>& tried, bool* unreadable) {
    ssh_key key = nullptr;
    if (ssh_pki_import_privkey_file(expand_tilde(path).c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK) {
        *unreadable = true;
        return SSH_AUTH_DENIED;
    }
    tried.push_back(fmt::format("{} {}", what, path));
    int rc = ssh_userauth_publickey(s, nullptr, key);
    ssh_key_free(key);
    return rc;
}

} // namespace

result<void> authenticate(ssh_session s, const ssh_options& o, const resolved_target& config) {
    std::string who =
        fmt::format("host {} ({})", o.host_name.empty() ? o.target.host : o.host_name, o.target.str());
    std::vector<std::string> tried;
    // SSH_AUTH_ERROR is a broken connection or a timeout, not a refused key: stop there.
    auto broken = [&] { return fail(fmt::format("{}: authentication: {}", who, ssh_get_error(s))); };

    const char* sock = std::getenv("SSH_AUTH_SOCK");
    if ((sock != nullptr && *sock != '\0') || config.identity_agent) {
        tried.emplace_back("agent");
        int rc = ssh_userauth_agent(s, nullptr);
        if (rc == SSH_AUTH_SUCCESS) return {};
        if (rc == SSH_AUTH_ERROR) return broken();
    }
    if (!o.identity.empty()) {
        bool unreadable = false;
        int rc = try_key_file(s, o.identity, "identity", tried, &unreadable);
        if (unreadable)
            return fail(
                fmt::format("{}: cannot read the private key {} (missing, unreadable, or protected by a "
                            "passphrase: load such keys into ssh-agent instead)",
                            who, o.identity));
        if (rc == SSH_AUTH_SUCCESS) return {};
        if (rc == SSH_AUTH_ERROR) return broken();
    }
    // ssh_config's IdentityFile ones; like ssh, one that cannot be read is skipped (and said).
    for (const auto& file : config.identities) {
        if (file.find('%') != std::string::npos) continue; // tokens: libssh expands them below
        bool unreadable = false;
        int rc = try_key_file(s, file, "ssh_config IdentityFile", tried, &unreadable);
        if (unreadable) tried.push_back(fmt::format("ssh_config IdentityFile {} (unreadable)", file));
        if (rc == SSH_AUTH_SUCCESS) return {};
        if (rc == SSH_AUTH_ERROR) return broken();
    }
    tried.emplace_back("default keys");
    int rc = ssh_userauth_publickey_auto(s, nullptr, nullptr);
    if (rc == SSH_AUTH_SUCCESS) return {};
    if (rc == SSH_AUTH_ERROR) return broken();
    return fail(fmt::format("{}: authentication failed (tried: {})", who, fmt::join(tried, ", ")));
}

} // namespace kp::remote
