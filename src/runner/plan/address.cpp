#include "runner/plan/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <fmt/format.h>

namespace kp::runner {

bool is_ipv6_literal(std::string_view text) {
    auto zone = text.find('%');
    if (zone != std::string_view::npos && zone + 1 == text.size()) return false; // "fe80::1%"
    std::string addr(text.substr(0, zone));
    in6_addr out{};
    return inet_pton(AF_INET6, addr.c_str(), &out) == 1;
}

std::expected<std::string, std::string> parse_data_address(std::string_view text) {
    auto no_port = [&](std::string_view host) {
        return std::unexpected(fmt::format("'{}': a data-plane address has no port (the agents pick the "
                                           "ports); write {}",
                                           text, host));
    };
    if (text.starts_with('[')) {
        auto close = text.find(']');
        if (close == std::string_view::npos)
            return std::unexpected(fmt::format("'{}': missing ']' after the IPv6 address", text));
        std::string_view inner = text.substr(1, close - 1);
        if (!is_ipv6_literal(inner))
            return std::unexpected(fmt::format("'{}': '{}' in brackets is not an IPv6 address", text, inner));
        if (close + 1 != text.size()) return no_port(inner);
        return std::string(inner);
    }
    const auto colons = std::count(text.begin(), text.end(), ':');
    if (colons == 0) return std::string(text);
    if (is_ipv6_literal(text)) return std::string(text);
    if (colons == 1) return no_port(text.substr(0, text.find(':')));
    return std::unexpected(fmt::format("'{}' is not an IPv6 address", text));
}

} // namespace kp::runner
