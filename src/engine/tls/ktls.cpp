/// Kernel TLS: whether this kernel has the TLS ULP (probed once), and /proc/net/tls_stat readings.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include "engine/tls/tls.hpp"

namespace kp::engine::tls {
namespace {

struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// The ULP can only be attached to an established TCP socket, so the probe makes a loopback
// connection. The kernel loads the tls module on demand (request_module "tcp-ulp-tls"), so an
// unloaded module still probes as available; the answer is that of a real data connection.
std::string probe() {
    fd_guard lst{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    fd_guard cli{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (lst.fd < 0 || cli.fd < 0) return std::string("kTLS probe: socket: ") + std::strerror(errno);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(lst.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lst.fd, 1) != 0 ||
        ::getsockname(lst.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::connect(cli.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return std::string("kTLS probe: loopback connection: ") + std::strerror(errno);
    fd_guard srv{::accept4(lst.fd, nullptr, nullptr, SOCK_CLOEXEC)};
    if (srv.fd < 0) return std::string("kTLS probe: accept: ") + std::strerror(errno);
    if (::setsockopt(cli.fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls") != 0)
        return std::string("kernel has no TLS ULP (setsockopt TCP_ULP \"tls\": ") + std::strerror(errno) +
               "); load the tls module (modprobe tls) or build the kernel with CONFIG_TLS";
    return {};
}

const std::string& probe_once() {
    static std::once_flag once;
    static std::string reason;
    std::call_once(once, [] { reason = probe(); });
    return reason;
}

} // namespace

bool ktls_available() {
    return probe_once().empty();
}

std::string ktls_unavailable_reason() {
    return probe_once();
}

tls_stat read_tls_stat() {
    tls_stat out;
    std::ifstream in("/proc/net/tls_stat");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string name;
        std::uint64_t value = 0;
        if (fields >> name >> value) out.emplace_back(std::move(name), value);
    }
    return out;
}

tls_stat tls_stat_delta(const tls_stat& before, const tls_stat& after) {
    tls_stat out;
    for (const auto& [name, end] : after) {
        // TlsCurr* are gauges (sessions open now): their end value is what means something.
        if (name.starts_with("TlsCurr")) {
            out.emplace_back(name, end);
            continue;
        }
        for (const auto& [bname, start] : before)
            if (bname == name) out.emplace_back(name, end >= start ? end - start : 0);
    }
    return out;
}

} // namespace kp::engine::tls
