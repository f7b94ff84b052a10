#pragma once
/// Test fixture: N network namespaces running Debian's sshd, made by netns-hosts.sh and torn
/// down in the destructor, even when the test fails.
#include <string>
#include <sys/types.h>
#include <vector>

namespace kp::test {

/// Runs a shell command; returns its stdout and sets `status` to the exit status (-1: could not run).
std::string run_shell(const std::string& command, int* status = nullptr);

/// Hosts in namespaces, reachable from the test process through the root namespace's bridge link.
class netns_hosts {
  public:
    struct host {
        std::string name;    ///< "host1"
        std::string ns;      ///< "kp-42-1"
        std::string address; ///< "198.18.42.1"
        /// "2001:2:0:42::1", on the same eth0; empty where the kernel has no IPv6.
        std::string address6;
    };

    /// Empty when the fixture can run here, else why not ("needs root", "no /usr/sbin/sshd").
    static std::string unavailable_reason();

    /// Creates `n` hosts; throws std::runtime_error (with the script's output) when that fails.
    explicit netns_hosts(int n);
    ~netns_hosts();
    netns_hosts(const netns_hosts&) = delete;
    netns_hosts& operator=(const netns_hosts&) = delete;

    [[nodiscard]] const std::vector<host>& hosts() const { return hosts_; }
    /// The directory with keys and configs (removed on teardown).
    [[nodiscard]] const std::string& dir() const { return dir_; }
    /// The client private key every sshd authorizes.
    [[nodiscard]] std::string key() const { return dir_ + "/id_ed25519"; }
    /// known_hosts with every host's key.
    [[nodiscard]] std::string known_hosts() const { return dir_ + "/known_hosts"; }
    /// The public host key of host i (0-based), "ssh-ed25519 AAAA… comment".
    [[nodiscard]] std::string host_key_pub(std::size_t i) const;
    /// An address in the hosts' subnet that nothing answers on ("198.18.42.250").
    [[nodiscard]] std::string unused_address() const;
    /// Every process in host i's namespace.
    [[nodiscard]] std::vector<pid_t> pids(std::size_t i) const;
    /// The pid of host i's listening sshd.
    [[nodiscard]] pid_t sshd_pid(std::size_t i) const;
    /// Stops host i's listening sshd (sessions already open stay).
    void stop_sshd(std::size_t i);

  private:
    std::string dir_;
    std::vector<host> hosts_;
};

} // namespace kp::test
