// ssh_config aliases and jump hosts against real sshd in namespaces: host2's sshd answers only
// host1 (nftables in host2's namespace), so reaching it takes host1 as the jump host.
#include <fstream>

#include <fmt/format.h>

#include "ssh_test_util.hpp"
#include "ssh_topology.hpp"

using namespace kp::test;
using kp::remote::open_ssh_command;

namespace {

bool skip_without_jump_setup() {
    if (skip_without_netns()) return true;
    if (have_nft()) return false;
    skip("jump-host tests need nft (apt-get install nftables)");
    return true;
}

std::string write_config(const netns_hosts& f, const std::string& text) {
    std::string path = f.dir() + "/ssh_config";
    std::ofstream(path) << text;
    return path;
}

/// The options of an ssh_config alias: nothing but the name, the file and the known_hosts.
kp::remote::ssh_options alias_options(const netns_hosts& f, const std::string& alias,
                                      const std::string& cfg) {
    auto o = options_for(f, 0);
    o.target = {"", alias, 0};
    o.identity.clear(); // IdentityFile comes from the file
    o.ssh_config = cfg;
    o.host_name = alias;
    return o;
}

} // namespace

TEST_CASE("ssh jump: an ssh_config alias takes HostName, User, Port and IdentityFile from the file") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    second_sshd(f, 0, 2222);
    auto cfg =
        write_config(f, fmt::format("Host lab\n  HostName {}\n  User root\n  Port 2222\n  IdentityFile {}\n",
                                    f.hosts()[0].address, f.key()));
    auto t = open_ssh_command(alias_options(f, "lab", cfg), "echo $SSH_CONNECTION", {});
    REQUIRE_MESSAGE(t.has_value(), t.error().message);
    CHECK((*t)->describe() == fmt::format("ssh root@{}:2222", f.hosts()[0].address));
    CHECK(read_bytes(**t, 200).find(" 2222") != std::string::npos); // sshd says which port it serves
    (*t)->close();
}

TEST_CASE("ssh jump: a host reachable only through a jump host, via ProxyJump and via jump") {
    if (skip_without_jump_setup()) return;
    netns_hosts f(2);
    sshd_only_from(f, 1, 0);
    const auto& jump = f.hosts()[0].address;
    const auto& target = f.hosts()[1].address;

    auto direct = options_for(f, 1);
    direct.connect_timeout = 1500ms;
    auto refused = open_ssh_command(direct, "true", {});
    REQUIRE_FALSE(refused.has_value()); // not reachable from here
    CHECK(refused.error().message.find("timed out") != std::string::npos);

    auto cfg = write_config(f, fmt::format("Host bastion\n  HostName {}\n  User root\n  IdentityFile {}\n"
                                           "Host tgt\n  HostName {}\n  User root\n  IdentityFile {}\n"
                                           "  ProxyJump bastion\n",
                                           jump, f.key(), target, f.key()));
    auto via_config = open_ssh_command(alias_options(f, "tgt", cfg), "hostname -I", {});
    REQUIRE_MESSAGE(via_config.has_value(), via_config.error().message);
    CHECK((*via_config)->describe() == fmt::format("ssh root@{}:22 via root@{}:22", target, jump));
    CHECK(read_bytes(**via_config, 200).find(target) != std::string::npos); // it runs on host2
    (*via_config)->close();

    auto o = options_for(f, 1);
    o.jump = {{"root", jump, 22}};
    auto via_plan = open_ssh_command(o, "cat", {});
    REQUIRE_MESSAGE(via_plan.has_value(), via_plan.error().message);
    CHECK((*via_plan)->describe() == fmt::format("ssh root@{}:22 via root@{}:22", target, jump));
    // Bytes both ways through the jump, more than one channel window.
    std::string big(300 * 1024, 'x');
    REQUIRE((*via_plan)->write_all(std::as_bytes(std::span(big))).has_value());
    CHECK(read_bytes(**via_plan, big.size()).size() == big.size());
    (*via_plan)->close();
}

TEST_CASE("ssh jump: a jump host whose key is not in known_hosts is refused, naming the jump host") {
    if (skip_without_jump_setup()) return;
    netns_hosts f(2);
    sshd_only_from(f, 1, 0);
    const auto& jump = f.hosts()[0].address;
    auto o = options_for(f, 1);
    o.jump = {{"root", jump, 22}};
    o.known_hosts = f.dir() + "/only_target";
    std::string pub = f.host_key_pub(1);
    std::ofstream(o.known_hosts) << f.hosts()[1].address << ' ' << pub.substr(0, pub.rfind(' ')) << '\n';
    auto r = open_ssh_command(o, "true", {});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message ==
          fmt::format(
              "host host2 (jump host root@{0}:22): host key of {0} (ssh-ed25519 {1}) is not in {2}; "
              "verify it and add it with `ssh-keyscan -p 22 {0} >> {2}`, or pass --accept-new-host-keys",
              jump, fingerprint(f.dir() + "/host1/ssh_host_ed25519_key.pub"), o.known_hosts));
}

TEST_CASE("ssh jump: ssh_config keywords libssh cannot honour are named with file:line") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    const auto& addr = f.hosts()[0].address;
    auto cfg = write_config(f, fmt::format("Host lab\n  HostName {}\n  User root\n  IdentityFile {}\n"
                                           "  ServerAliveInterval 30\n"
                                           "Host viacmd\n  HostName {}\n  ProxyCommand nc %h %p\n",
                                           addr, f.key(), addr));
    log_lines logs;
    auto ok = open_ssh_command(alias_options(f, "lab", cfg), "true", logs.sink());
    REQUIRE_MESSAGE(ok.has_value(), ok.error().message);
    (*ok)->close();
    CHECK(logs.contains(fmt::format(
        "warning: ssh_config {}:5: ServerAliveInterval is not supported by libssh 0.10, ignored", cfg)));

    auto bad = open_ssh_command(alias_options(f, "viacmd", cfg), "true", {});
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message ==
          fmt::format(
              "host viacmd: ssh_config {}:8: ProxyCommand is not supported: kperf-plan reaches jump hosts "
              "itself (ProxyJump, or jump: in the plan), checking their host keys against its known_hosts",
              cfg));
}
