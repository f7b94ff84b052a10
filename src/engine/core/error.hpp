#pragma once
/// Errors that travel up through the layers as values, gathering context on the way.
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace kp {

/// What failed, which decides the exit code at the top: 2 for a bad plan or usage,
/// 3 for infrastructure (a host, an agent, the network) and for a timeout (something did not
/// answer in time: a read, a request, a run). It travels across the agent protocol.
enum class error_kind : std::uint8_t { usage, infrastructure, timeout };

/// An error message with the context it gathered on its way up ("host b: starting agent: ...").
struct error {
    std::string message;
    error_kind kind = error_kind::infrastructure;
    /// The errno behind the message (errno_error), 0 when none; lets a layer above add what it
    /// knows about that cause (e.g. how many descriptors the job needs) without reading the text.
    int sys_errno = 0;
    /// True when this failure is only a consequence of the peer side's failure (the client
    /// aborted, the server went away): when both sides failed, the other side's error is the cause.
    bool consequence = false;

    /// Returns this error with `what` prepended as context.
    [[nodiscard]] error context(std::string_view what) const;
};

/// Builds an infrastructure error from a message.
[[nodiscard]] error make_error(std::string message);
/// Builds an error of `kind` from a message.
[[nodiscard]] error make_error(std::string message, error_kind kind);
/// Builds an error from the current errno, e.g. "connect 198.18.0.2:5201: Connection refused";
/// it keeps the errno in sys_errno.
[[nodiscard]] error errno_error(std::string_view what);

/// The same error, marked as a consequence of the peer side's failure.
[[nodiscard]] error as_consequence(error e);

template <class T> using result = std::expected<T, error>;

/// Shorthand for returning an error: `return fail("no such host");`
inline std::unexpected<error> fail(std::string message) {
    return std::unexpected(make_error(std::move(message)));
}
inline std::unexpected<error> fail(error e) {
    return std::unexpected(std::move(e));
}

} // namespace kp
