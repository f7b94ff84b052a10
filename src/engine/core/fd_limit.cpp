#include "engine/core/fd_limit.hpp"

#include <cerrno>

#include <sys/resource.h>

#include <fmt/format.h>

namespace kp::engine {

namespace {

std::uint64_t of(rlim_t v) {
    return v == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(v);
}

std::string text(std::uint64_t v) {
    return v == UINT64_MAX ? std::string("unlimited") : fmt::format("{}", v);
}

} // namespace

fd_limit current_fd_limit() noexcept {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return {};
    return {of(r.rlim_cur), of(r.rlim_max)};
}

fd_limit raise_fd_limit() noexcept {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur != r.rlim_max) {
        rlimit want = r;
        want.rlim_cur = r.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE,
                        &want); // a hard limit of RLIM_INFINITY may be refused: keep the soft one
    }
    return current_fd_limit();
}

bool out_of_descriptors(int sys_errno) noexcept {
    return sys_errno == EMFILE || sys_errno == ENFILE;
}

error with_fd_limit(error e, std::uint32_t flows, std::size_t per_side) {
    std::string need = fmt::format("{} flow{} take{} at least {} descriptors on each side (twice that on a "
                                   "host that runs both)",
                                   flows, flows == 1 ? "" : "s", flows == 1 ? "s" : "", per_side);
    if (e.sys_errno == ENFILE) {
        e.message = fmt::format("{}: {}, and the system-wide limit is reached; raise it with sysctl "
                                "fs.file-max",
                                e.message, need);
        return e;
    }
    fd_limit l = current_fd_limit();
    e.message = fmt::format("{}: {}, and the open-file limit here is {} (hard limit {}); raise it with "
                            "`ulimit -n` (or LimitNOFILE= for a systemd unit)",
                            e.message, need, text(l.soft), text(l.hard));
    return e;
}

} // namespace kp::engine
