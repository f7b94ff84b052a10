#pragma once
// Shapes for SSH tests on top of netns_hosts (header-only, test code): a host whose sshd answers
// only its jump host, and a second sshd on another port.
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "netns_fixture.hpp"

namespace kp::test {

/// True when nft can run here (the jump tests need it).
inline bool have_nft() {
    int rc = 0;
    run_shell("command -v nft >/dev/null 2>&1", &rc);
    return rc == 0;
}

/// In host `target`'s namespace, drops TCP to port 22 from anywhere but host `jump`: its sshd is
/// reachable only through the jump host. The rule goes with the namespace.
inline void sshd_only_from(const netns_hosts& f, std::size_t target, std::size_t jump) {
    int rc = 0;
    auto out = run_shell(fmt::format("ip netns exec {} nft -f - 2>&1 <<'EOF'\n"
                                     "table inet kp_jump {{\n"
                                     "  chain in {{\n"
                                     "    type filter hook input priority 0; policy accept;\n"
                                     "    tcp dport 22 ip saddr != {} drop\n"
                                     "  }}\n"
                                     "}}\n"
                                     "EOF",
                                     f.hosts().at(target).ns, f.hosts().at(jump).address),
                         &rc);
    if (rc != 0) throw std::runtime_error("nft failed: " + out);
}

/// Starts a second sshd for host `i` on `port` (same keys and config; with `sftp` false, a copy
/// of the config without its Subsystem line) and records its key as "[addr]:port" in the
/// fixture's known_hosts. The namespace's teardown stops it.
inline void second_sshd(const netns_hosts& f, std::size_t i, int port, bool sftp = true) {
    std::string h = fmt::format("{}/host{}", f.dir(), i + 1);
    const auto& host = f.hosts().at(i);
    std::string config = h + "/sshd_config";
    int rc = 0;
    if (!sftp) {
        config = fmt::format("{}/sshd_config_nosftp{}", h, port);
        run_shell(fmt::format("sed '/^Subsystem/d' {}/sshd_config > {}", h, config), &rc);
        if (rc != 0) throw std::runtime_error("second sshd: cannot write " + config);
    }
    auto out = run_shell(fmt::format("ip netns exec {} /usr/sbin/sshd -f {} -o Port={} -o "
                                     "PidFile={}/sshd{}.pid -E {}/sshd{}.log 2>&1",
                                     host.ns, config, port, h, port, h, port),
                         &rc);
    if (rc != 0) throw std::runtime_error("second sshd: " + out);
    std::string pub = f.host_key_pub(i);
    std::ofstream(f.known_hosts(), std::ios::app)
        << fmt::format("[{}]:{} {}\n", host.address, port, pub.substr(0, pub.rfind(' ')));
    for (int k = 0; k < 100; ++k) { // bounded: it accepts within 10 s
        run_shell(fmt::format("timeout 1 bash -c 'exec 3<>/dev/tcp/{}/{}' 2>/dev/null", host.address, port),
                  &rc);
        if (rc == 0) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("second sshd did not accept");
}

} // namespace kp::test
