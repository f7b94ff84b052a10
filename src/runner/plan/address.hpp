#pragma once
/// A host's data-plane `address:` as a plan writes it: an IPv4 address, an IPv6 address (bare or
/// in brackets, with an optional %zone), or a host name; never with a port (the agents pick ports).
#include <expected>
#include <string>
#include <string_view>

namespace kp::runner {

/// The address without brackets ("[2001:2::1]" -> "2001:2::1"), or what is wrong with it.
[[nodiscard]] std::expected<std::string, std::string> parse_data_address(std::string_view text);

/// True for a numeric IPv6 address (a %zone allowed), without brackets.
[[nodiscard]] bool is_ipv6_literal(std::string_view text);

} // namespace kp::runner
