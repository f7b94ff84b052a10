#include "engine/core/error.hpp"

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace kp {

error error::context(std::string_view what) const {
    return {fmt::format("{}: {}", what, message), kind, sys_errno, consequence};
}

error make_error(std::string message) {
    return {std::move(message), error_kind::infrastructure};
}

error make_error(std::string message, error_kind kind) {
    return {std::move(message), kind};
}

error errno_error(std::string_view what) {
    int e = errno;
    error out = make_error(fmt::format("{}: {}", what, std::strerror(e)));
    out.sys_errno = e;
    return out;
}

error as_consequence(error e) {
    e.consequence = true;
    return e;
}

} // namespace kp
