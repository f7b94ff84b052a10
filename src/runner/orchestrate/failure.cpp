#include "runner/orchestrate/failure.hpp"

#include <fmt/format.h>

namespace kp::runner {

namespace {

/// `text` without `prefix` in front; false (and `text` as it was) when it does not start with it.
bool drop_prefix(std::string& text, const std::string& prefix) {
    if (!text.starts_with(prefix)) return false;
    text.erase(0, prefix.size());
    return true;
}

} // namespace

failure_reason side_failure(const std::string& host, const std::string& step, const std::string& session,
                            const error& e) {
    // agent_client's context is "host b: <request>: ", the request being "<step> <session>"
    // ("establish rr#0/client") or, for the requests of no session, "<step>" ("clock").
    failure_reason f{host, step, e.message};
    if (!drop_prefix(f.error, fmt::format("host {}: ", host))) return f;
    const std::string request = fmt::format("{} {}", step, session);
    if (drop_prefix(f.error, request + ": ")) {
        f.step = request;
        return f;
    }
    if (!drop_prefix(f.error, step + ": ")) f.error = e.message; // some other context: keep it all
    return f;
}

failure_reason both_failed(const failure_reason& client, const error& client_error,
                           const failure_reason& server, const error& server_error) {
    // A lost agent is a cause in itself (and its host must be the one declared dead).
    const bool server_first = client.host_lost != server.host_lost
                                  ? server.host_lost
                                  : client_error.consequence && !server_error.consequence;
    const failure_reason& cause = server_first ? server : client;
    const failure_reason& other = server_first ? client : server;
    failure_reason f = cause;
    f.error = fmt::format("{}; and on {}", cause.error, describe(other));
    return f;
}

} // namespace kp::runner
