#include "engine/error.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "engine/wire.hpp"

namespace kp {

error error::context(std::string_view what) const {
    return {fmt::format("{}: {}", what, message), kind};
}

error make_error(std::string message) {
    return {std::move(message), error_kind::infrastructure};
}

error make_error(std::string message, error_kind kind) {
    return {std::move(message), kind};
}

namespace {
constexpr engine::wire::enum_name<error_kind> error_kind_names[] = {
    {error_kind::usage, "usage"},
    {error_kind::infrastructure, "infrastructure"},
    {error_kind::timeout, "timeout"}};
} // namespace

std::span<const engine::wire::enum_name<error_kind>> wire_names(error_kind) {
    return error_kind_names;
}

error errno_error(std::string_view what) {
    int e = errno;
    return make_error(fmt::format("{}: {}", what, std::strerror(e)));
}

} // namespace kp
