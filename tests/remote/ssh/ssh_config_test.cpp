// ssh_config resolution without sshd: the scan of what applies, libssh's parser applying it,
// and the scan's keyword table checked against the installed libssh's own warnings.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>
#include <libssh/callbacks.h>

#include "remote/ssh/config.hpp"

using namespace kp::remote;

namespace {

struct temp_file {
    std::string path;
    explicit temp_file(const std::string& text) {
        char name[] = "/tmp/kp-ssh-config-XXXXXX";
        int fd = ::mkstemp(name);
        REQUIRE(fd >= 0);
        ::close(fd);
        path = name;
        std::ofstream(path) << text;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

std::vector<std::string> notes_of(const config_scan& s) {
    std::vector<std::string> out;
    for (const auto& n : s.notes)
        out.push_back(fmt::format("{}{}", n.fatal ? "FATAL " : "", n.str()));
    return out;
}

struct session {
    ssh_session s = ssh_new();
    ~session() { ssh_free(s); }
};

std::vector<std::string> warnings;
std::mutex warnings_mu;
void capture(int, const char*, const char* text, void*) {
    std::lock_guard lock(warnings_mu);
    warnings.emplace_back(text);
}

} // namespace

TEST_CASE("ssh_config scan: Host patterns, first value wins, unsupported keywords named with file:line") {
    auto s = scan_ssh_config("cfg", R"(# global
ServerAliveInterval 30
Host bastion
  HostName 198.18.0.2
Host h1 h2 !h3
  HostName 198.18.0.3
  IdentityFile ~/.ssh/lab
  ProxyJump root@bastion:2222
  ForwardAgent yes
Host h*
  ProxyJump other
  IdentityFile=~/.ssh/second
  StrictHostKeyChecking accept-new
Host nomatch
  ProxyCommand nc %h %p
)",
                             "h1", "");
    CHECK(s.proxy_jump == "root@bastion:2222");
    CHECK(s.proxy_jump_at == "cfg:8");
    CHECK(s.identity_files == std::vector<std::string>{"~/.ssh/lab", "~/.ssh/second"});
    CHECK(notes_of(s) ==
          std::vector<std::string>{
              "cfg:2: ServerAliveInterval is not supported by libssh 0.10",
              "cfg:9: ForwardAgent does not apply (kperf-plan opens no terminal and no forwarding)",
              "cfg:13: StrictHostKeyChecking accept-new is ignored: host keys are always checked strictly "
              "(--accept-new-host-keys records unknown ones)"});
    // A negated pattern wins over a positive one.
    auto h3 = scan_ssh_config("cfg", "Host h* !h3\n  ForwardAgent yes\n", "h3", "");
    CHECK(h3.notes.empty());
}

TEST_CASE("ssh_config scan: what would reach another host or check another key is fatal") {
    auto s = scan_ssh_config("f", R"(Host t
  ProxyCommand ssh -W %h:%p bastion
  HostKeyAlias other
Match exec "true"
  User x
Host u
  ProxyCommand none
)",
                             "t", "");
    CHECK(notes_of(s) ==
          std::vector<std::string>{
              "FATAL f:2: ProxyCommand is not supported: kperf-plan reaches jump hosts itself "
              "(ProxyJump, or jump: in the plan), checking their host keys against its known_hosts",
              "FATAL f:3: HostKeyAlias is not supported by libssh 0.10: the host key would be checked "
              "under another name",
              "FATAL f:4: Match exec is not supported by libssh 0.10: the block would never apply"});
    CHECK(scan_ssh_config("f", "Host u\n  ProxyCommand none\n", "u", "").notes.empty());
}

TEST_CASE("ssh_config scan: Match host, originalhost, user and all as libssh 0.10 evaluates them") {
    auto s = scan_ssh_config("m", R"(Host a
  HostName 198.18.0.9
Match host 198.18.0.*
  IdentityFile /k1
Match originalhost b
  IdentityFile /k2
Match user bench
  IdentityFile /k3
Match all
  IdentityFile /k4
)",
                             "a", "bench");
    CHECK(s.identity_files == std::vector<std::string>{"/k1", "/k3", "/k4"});
}

TEST_CASE("ssh_config apply: libssh's parser gives HostName, User, Port; the plan's user and port win") {
    temp_file cfg("Host lab1\n  HostName 198.18.0.7\n  User bench\n  Port 2222\n  ProxyJump j1,root@j2:23\n");
    session a;
    ssh_options o;
    o.target = {"", "lab1", 0};
    o.ssh_config = cfg.path;
    o.known_hosts = "/tmp/kh";
    REQUIRE(ssh_options_set(a.s, SSH_OPTIONS_HOST, "lab1") == SSH_OK);
    auto r = apply_ssh_config(a.s, o, {});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK(r->target.str() == "bench@198.18.0.7:2222");
    CHECK(r->known_hosts == "/tmp/kh");
    REQUIRE(r->jump.size() == 2);
    CHECK(r->jump[0].str() == "j1");
    CHECK(r->jump[1].str() == "root@j2:23");
    char* pc = nullptr;
    CHECK(ssh_options_get(a.s, SSH_OPTIONS_PROXYCOMMAND, &pc) != SSH_OK); // libssh's `ssh -W` is cleared
    if (pc != nullptr) ssh_string_free_char(pc);

    session b;
    o.target = {"root", "lab1", 22};
    o.jump = {{"", "198.18.0.8", 0}};
    REQUIRE(ssh_options_set(b.s, SSH_OPTIONS_HOST, "lab1") == SSH_OK);
    auto w = apply_ssh_config(b.s, o, {});
    REQUIRE(w.has_value());
    CHECK(w->target.str() == "root@198.18.0.7:22");
    REQUIRE(w->jump.size() == 1); // jump: in the plan overrides ProxyJump
    CHECK(w->jump[0].host == "198.18.0.8");
}

TEST_CASE("ssh_config resolve: an alias's HostName, User and Port without connecting") {
    temp_file cfg("Host lab1\n  HostName 198.18.0.7\n  User bench\n  Port 2222\n");
    ssh_options o;
    o.target = {"", "lab1", 0};
    o.ssh_config = cfg.path;
    auto r = resolve_ssh_target(o);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    CHECK(r->target.str() == "bench@198.18.0.7:2222");
    o.ssh_config = "none";
    auto plain = resolve_ssh_target(o);
    REQUIRE(plain.has_value());
    CHECK(plain->target.host == "lab1");
    CHECK(plain->target.port == 22);
}

TEST_CASE(
    "ssh_config apply: no User anywhere takes the local user; fatal keywords and missing files refuse") {
    temp_file cfg("Host x\n  HostName 198.18.0.5\nHost y\n  CertificateFile /c\n");
    session a;
    ssh_options o;
    o.target = {"", "x", 0};
    o.ssh_config = cfg.path;
    REQUIRE(ssh_options_set(a.s, SSH_OPTIONS_HOST, "x") == SSH_OK);
    auto r = apply_ssh_config(a.s, o, {});
    REQUIRE(r.has_value());
    CHECK(!r->target.user.empty());
    CHECK(r->target.port == 22);

    session b;
    o.target = {"", "y", 0};
    REQUIRE(ssh_options_set(b.s, SSH_OPTIONS_HOST, "y") == SSH_OK);
    auto f = apply_ssh_config(b.s, o, {});
    REQUIRE_FALSE(f.has_value());
    CHECK(f.error().message ==
          fmt::format("ssh_config {}:4: CertificateFile is not supported by libssh 0.10: no "
                      "certificate would be offered",
                      cfg.path));

    session c;
    o.ssh_config = "/nonexistent/kp-config";
    auto m = apply_ssh_config(c.s, o, {});
    REQUIRE_FALSE(m.has_value());
    CHECK(m.error().message == "ssh_config /nonexistent/kp-config: cannot read the file");
}

TEST_CASE("ssh_config scan: its keyword table agrees with the installed libssh's parser") {
    // Honoured: libssh applies them (no "Unsupported/Unknown/Unapplicable option" from its parser)
    // and the scan says nothing. Not honoured: libssh skips them and the scan names them.
    const std::vector<std::string> honoured = {"HostName",
                                               "User",
                                               "Port",
                                               "IdentityFile",
                                               "ProxyJump",
                                               "Ciphers",
                                               "MACs",
                                               "KexAlgorithms",
                                               "HostKeyAlgorithms",
                                               "PubkeyAcceptedAlgorithms",
                                               "PubkeyAcceptedKeyTypes",
                                               "Compression",
                                               "BindAddress",
                                               "GlobalKnownHostsFile",
                                               "UserKnownHostsFile",
                                               "IdentityAgent",
                                               "PubkeyAuthentication",
                                               "PasswordAuthentication",
                                               "KbdInteractiveAuthentication",
                                               "GSSAPIAuthentication"};
    const std::vector<std::string> skipped = {"IdentitiesOnly",
                                              "CertificateFile",
                                              "ServerAliveInterval",
                                              "CanonicalizeHostname",
                                              "ForwardAgent",
                                              "HostKeyAlias",
                                              "SendEnv",
                                              "ControlMaster",
                                              "HashKnownHosts",
                                              "KnownHostsCommand",
                                              "SetEnv",
                                              "AddressFamily",
                                              "UpdateHostKeys"};
    ssh_set_log_callback(capture);
    auto libssh_skips = [](const std::string& keyword) {
        temp_file cfg(fmt::format("Host k\n  {} yes\n", keyword));
        {
            std::lock_guard lock(warnings_mu);
            warnings.clear();
        }
        session s;
        int level = SSH_LOG_PROTOCOL;
        ssh_options_set(s.s, SSH_OPTIONS_LOG_VERBOSITY, &level);
        ssh_options_set(s.s, SSH_OPTIONS_HOST, "k");
        ssh_options_parse_config(s.s, cfg.path.c_str());
        int quiet = SSH_LOG_NOLOG;
        ssh_options_set(s.s, SSH_OPTIONS_LOG_VERBOSITY, &quiet);
        std::lock_guard lock(warnings_mu);
        for (const auto& w : warnings)
            if (w.find("option: " + keyword) != std::string::npos) return true;
        return false;
    };
    for (const auto& k : honoured) {
        INFO(k);
        CHECK_FALSE(libssh_skips(k));
        CHECK(scan_ssh_config("c", fmt::format("Host k\n  {} yes\n", k), "k", "").notes.empty());
    }
    for (const auto& k : skipped) {
        INFO(k);
        CHECK(libssh_skips(k));
        CHECK(scan_ssh_config("c", fmt::format("Host k\n  {} yes\n", k), "k", "").notes.size() == 1);
    }
    ssh_set_log_callback(nullptr);
}
