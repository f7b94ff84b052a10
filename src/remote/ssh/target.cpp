// Parsing and printing of SSH targets: user@host[:port], user@[v6]:port.
#include <charconv>

#include <fmt/format.h>

#include "remote/ssh/transport.hpp"

namespace kp::remote {

namespace {

error usage_error(std::string_view text, std::string_view what) {
    error e = make_error(fmt::format("ssh target '{}': {}", text, what));
    e.kind = error_kind::usage;
    return e;
}

} // namespace

std::string ssh_target::str() const {
    std::string out = user.empty() ? "" : user + "@";
    out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != 0) out += fmt::format(":{}", port);
    return out;
}

result<ssh_target> parse_ssh_target(std::string_view text) {
    constexpr std::string_view expected = "expected user@host[:port]";
    if (text.empty()) return std::unexpected(usage_error(text, expected));
    if (text.find_first_of(" \t\r\n") != std::string_view::npos)
        return std::unexpected(usage_error(text, fmt::format("contains whitespace, {}", expected)));
    ssh_target t;
    std::string_view rest = text;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        if (at == 0)
            return std::unexpected(usage_error(text, fmt::format("empty user before '@', {}", expected)));
        t.user = std::string(rest.substr(0, at));
        rest.remove_prefix(at + 1);
    } // else: ssh_config's User, or the local user name (remote/ssh/config.cpp)
    std::string_view port;
    if (rest.starts_with('[')) {
        auto close = rest.find(']');
        if (close == std::string_view::npos)
            return std::unexpected(usage_error(text, "missing ']' after the IPv6 address"));
        t.host = std::string(rest.substr(1, close - 1));
        rest.remove_prefix(close + 1);
        if (!rest.empty()) {
            if (!rest.starts_with(':'))
                return std::unexpected(
                    usage_error(text, fmt::format("unexpected '{}' after ']', {}", rest, expected)));
            port = rest.substr(1);
            if (port.empty()) return std::unexpected(usage_error(text, "empty port after ':'"));
        }
    } else {
        auto colon = rest.find(':');
        if (colon != std::string_view::npos && rest.find(':', colon + 1) != std::string_view::npos)
            return std::unexpected(
                usage_error(text, fmt::format("write an IPv6 address in brackets, as {}@[{}]:22",
                                              t.user.empty() ? "user" : t.user, rest)));
        t.host = std::string(rest.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = rest.substr(colon + 1);
            if (port.empty()) return std::unexpected(usage_error(text, "empty port after ':'"));
        }
    }
    if (t.host.empty()) return std::unexpected(usage_error(text, fmt::format("missing host, {}", expected)));
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return std::unexpected(
                usage_error(text, fmt::format("port '{}' is not a number in 1-65535", port)));
        t.port = static_cast<std::uint16_t>(value);
    }
    return t;
}

} // namespace kp::remote
