// The netns fixture drives tests/netns/netns-hosts.sh, so tests and people use the same setup.
#include "netns_fixture.hpp"

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KP_NETNS_SCRIPT
#error "KP_NETNS_SCRIPT must name tests/netns/netns-hosts.sh"
#endif

namespace kp::test {

std::string run_shell(const std::string& command, int* status) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) {
        if (status != nullptr) *status = -1;
        return out;
    }
    std::array<char, 4096> buf{};
    std::size_t n;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
        out.append(buf.data(), n);
    int rc = ::pclose(p);
    if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

std::string netns_hosts::unavailable_reason() {
    if (::geteuid() != 0) return "needs root (network namespaces)";
    if (::access("/usr/sbin/sshd", X_OK) != 0) return "no /usr/sbin/sshd (apt-get install openssh-server)";
    if (::access("/usr/bin/ssh-keygen", X_OK) != 0) return "no ssh-keygen (apt-get install openssh-client)";
    int rc = 0;
    run_shell("command -v ip >/dev/null 2>&1", &rc);
    if (rc != 0) return "no ip (apt-get install iproute2)";
    return {};
}

netns_hosts::netns_hosts(int n) {
    std::string templ = (std::filesystem::temp_directory_path() / "kp-netns-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("netns fixture: mkdtemp failed");
    dir_ = templ;
    int rc = 0;
    std::string out =
        run_shell(std::string(KP_NETNS_SCRIPT) + " up " + std::to_string(n) + " " + dir_ + " 2>&1", &rc);
    if (rc != 0) {
        run_shell(std::string(KP_NETNS_SCRIPT) + " down " + dir_ + " 2>&1");
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("netns fixture: netns-hosts.sh up failed: " + out);
    }
    std::ifstream hosts(dir_ + "/hosts");
    host h;
    while (hosts >> h.name >> h.ns >> h.address)
        hosts_.push_back(h);
    std::ifstream hosts6(dir_ + "/hosts6");
    for (std::string name, a6; hosts6 >> name >> a6;)
        for (auto& x : hosts_)
            if (x.name == name) x.address6 = a6;
}

netns_hosts::~netns_hosts() {
    run_shell(std::string(KP_NETNS_SCRIPT) + " down " + dir_ + " 2>&1");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

std::string netns_hosts::host_key_pub(std::size_t i) const {
    std::ifstream in(dir_ + "/host" + std::to_string(i + 1) + "/ssh_host_ed25519_key.pub");
    std::string line;
    std::getline(in, line);
    return line;
}

std::string netns_hosts::unused_address() const {
    const std::string& a = hosts_.at(0).address;
    return a.substr(0, a.rfind('.')) + ".250";
}

std::vector<pid_t> netns_hosts::pids(std::size_t i) const {
    std::istringstream in(run_shell("ip netns pids " + hosts_.at(i).ns + " 2>/dev/null"));
    std::vector<pid_t> out;
    pid_t p;
    while (in >> p)
        out.push_back(p);
    return out;
}

pid_t netns_hosts::sshd_pid(std::size_t i) const {
    std::ifstream in(dir_ + "/host" + std::to_string(i + 1) + "/sshd.pid");
    pid_t p = 0;
    in >> p;
    return p;
}

void netns_hosts::stop_sshd(std::size_t i) {
    pid_t p = sshd_pid(i);
    if (p <= 0) return;
    ::kill(p, SIGTERM);
    // Bounded: sshd exits at once on SIGTERM; give it up to 2 s, then insist.
    for (int k = 0; k < 40 && ::kill(p, 0) == 0; ++k)
        ::usleep(50'000);
    ::kill(p, SIGKILL);
}

} // namespace kp::test
