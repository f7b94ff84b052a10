// Public-key authentication in a fixed order: ssh-agent, the plan's identity, the default keys.
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {

std::string expand_tilde(const std::string& path) {
    const char* home = std::getenv("HOME");
    if (path.starts_with("~/") && home != nullptr) return std::string(home) + path.substr(1);
    return path;
}

} // namespace

result<void> authenticate(ssh_session s, const ssh_options& o) {
    std::string who =
        fmt::format("host {} ({})", o.host_name.empty() ? o.target.host : o.host_name, o.target.str());
    std::vector<std::string> tried;
    // SSH_AUTH_ERROR is a broken connection or a timeout, not a refused key: stop there.
    auto broken = [&] { return fail(fmt::format("{}: authentication: {}", who, ssh_get_error(s))); };

    if (const char* sock = std::getenv("SSH_AUTH_SOCK"); sock != nullptr && *sock != '\0') {
        tried.emplace_back("agent");
        int rc = ssh_userauth_agent(s, nullptr);
        if (rc == SSH_AUTH_SUCCESS) return {};
        if (rc == SSH_AUTH_ERROR) return broken();
    }
    if (!o.identity.empty()) {
        ssh_key key = nullptr;
        if (ssh_pki_import_privkey_file(expand_tilde(o.identity).c_str(), nullptr, nullptr, nullptr, &key) !=
            SSH_OK)
            return fail(
                fmt::format("{}: cannot read the private key {} (missing, unreadable, or protected by a "
                            "passphrase: load such keys into ssh-agent instead)",
                            who, o.identity));
        tried.push_back(fmt::format("identity {}", o.identity));
        int rc = ssh_userauth_publickey(s, nullptr, key);
        ssh_key_free(key);
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
