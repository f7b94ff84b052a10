// The SSH transport against real sshd in network namespaces (tests/netns). Skips when not root.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "netns_fixture.hpp"
#include "remote/ssh/deploy.hpp"
#include "remote/ssh/transport.hpp"
#include "ssh_test_util.hpp"

using namespace std::chrono_literals;
using kp::remote::open_ssh_agent;
using kp::remote::open_ssh_command;
using kp::remote::ssh_options;
using kp::test::netns_hosts;
using kp::test::run_shell;
using namespace kp::test;

TEST_CASE("ssh: exec channel carries stdin/stdout and forwards stderr with the host name") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    log_lines logs;
    auto t = open_ssh_command(options_for(f, 0), "echo to-stderr >&2; exec cat", logs.sink());
    REQUIRE_MESSAGE(t.has_value(), t.error().message);
    CHECK((*t)->describe() == fmt::format("ssh root@{}:22", f.hosts()[0].address));
    std::string msg = "hello over ssh\n";
    REQUIRE((*t)->write_all(std::as_bytes(std::span(msg))).has_value());
    CHECK(read_bytes(**t, msg.size()) == msg);
    (*t)->close();
    CHECK(logs.contains("host1: to-stderr"));
}

TEST_CASE("ssh: read timeout, end of stream and exit status") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    auto quiet = open_ssh_command(options_for(f, 0), "exec cat", {});
    REQUIRE_MESSAGE(quiet.has_value(), quiet.error().message);
    std::byte buf[16];
    auto r = (*quiet)->read_some(buf, 200ms);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message == kp::remote::read_timeout_message);
    (*quiet)->close();

    auto t = open_ssh_command(options_for(f, 0), "printf done; exit 7", {});
    REQUIRE_MESSAGE(t.has_value(), t.error().message);
    CHECK(read_bytes(**t, 100) == "done");
    CHECK((*t)->exit_status() == "exit code 7");
    std::string late = "x";
    CHECK_FALSE((*t)->write_all(std::as_bytes(std::span(late))).has_value());
    (*t)->close();
}

TEST_CASE("ssh: deploys the binary once, the second open skips the upload") {
    if (skip_without_netns()) return;
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
    netns_hosts f(2);
    // A copy with a unique tail has a hash no earlier run deployed, so the first open must upload.
    std::string local = f.dir() + "/kperf-plan";
    std::filesystem::copy_file(bin, local);
    std::ofstream(local, std::ios::app | std::ios::binary) << "kperf-plan test nonce " << f.dir();
    auto sha = kp::remote::sha256_file(local);
    REQUIRE(sha.has_value());
    std::string cache_dir = fmt::format("{}/.cache/kperf-plan/{}", root_home(), *sha);
    struct cleanup {
        std::string dir;
        ~cleanup() { std::filesystem::remove_all(dir); }
    } remove_cache{cache_dir};

    kp::remote::deploy_report first, second, other;
    auto t1 = open_ssh_agent(options_for(f, 0), local, {}, &first);
    REQUIRE_MESSAGE(t1.has_value(), t1.error().message);
    CHECK(first.uploaded);
    CHECK(first.sha256 == *sha);
    CHECK(first.remote_path == cache_dir + "/kperf-plan");
    // The hosts share this machine's filesystem, so the upload can be checked right here.
    auto remote_sha = kp::remote::sha256_file(first.remote_path);
    REQUIRE(remote_sha.has_value());
    CHECK(*remote_sha == *sha);
    struct stat st {};
    REQUIRE(::stat(first.remote_path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0755);
    (*t1)->close();

    auto t2 = open_ssh_agent(options_for(f, 0), local, {}, &second);
    REQUIRE_MESSAGE(t2.has_value(), t2.error().message);
    CHECK_FALSE(second.uploaded);
    CHECK(second.remote_path == first.remote_path);
    (*t2)->close();
    // host2 sees the same home directory: the path is found there too.
    auto t3 = open_ssh_agent(options_for(f, 1), local, {}, &other);
    REQUIRE_MESSAGE(t3.has_value(), t3.error().message);
    CHECK_FALSE(other.uploaded);
    (*t3)->close();
    CHECK(std::distance(std::filesystem::directory_iterator(cache_dir), {}) == 1); // no temporary left
}

TEST_CASE("ssh: agent_path runs a preinstalled binary without deploying") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    // A stand-in "agent" that answers on stdout so the exec line is visible.
    std::string fake = f.dir() + "/fake-agent";
    std::ofstream(fake) << "#!/bin/sh\necho \"fake $1\"\n";
    std::filesystem::permissions(fake, std::filesystem::perms(0755));
    auto o = options_for(f, 0);
    o.agent_path = fake;
    kp::remote::deploy_report rep;
    rep.uploaded = true;
    auto t = open_ssh_agent(o, "/nonexistent/kperf-plan", {}, &rep);
    REQUIRE_MESSAGE(t.has_value(), t.error().message);
    CHECK_FALSE(rep.uploaded);
    CHECK(rep.remote_path == fake);
    CHECK(read_bytes(**t, 100) == "fake agent\n");
    (*t)->close();
}

TEST_CASE("ssh: unknown host key is refused with what to do, accepted and recorded with the opt-in") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    auto o = options_for(f, 0);
    const std::string& addr = f.hosts()[0].address;
    o.known_hosts = f.dir() + "/fresh/known_hosts"; // neither the file nor its directory exist
    auto refused = open_ssh_command(o, "true", {});
    REQUIRE_FALSE(refused.has_value());
    CHECK(
        refused.error().message ==
        fmt::format("host host1: host key of {0} (ssh-ed25519 {1}) is not in {2}; verify it and add it with "
                    "`ssh-keyscan -p 22 {0} >> {2}`, or pass --accept-new-host-keys",
                    addr, fingerprint(f.dir() + "/host1/ssh_host_ed25519_key.pub"), o.known_hosts));

    o.accept_new_host_key = true;
    log_lines notes;
    auto accepted = open_ssh_command(o, "true", notes.sink());
    REQUIRE_MESSAGE(accepted.has_value(), accepted.error().message);
    (*accepted)->close();
    CHECK(notes.contains(fmt::format("host1: recorded the new host key of {0} (ssh-ed25519 {1}) in {2} "
                                     "(--accept-new-host-keys); check it against the host's own "
                                     "`ssh-keygen -lf` before trusting this run",
                                     addr, fingerprint(f.dir() + "/host1/ssh_host_ed25519_key.pub"),
                                     o.known_hosts)));
    std::ifstream in(o.known_hosts);
    std::string recorded((std::istreambuf_iterator<char>(in)), {});
    std::istringstream key(f.host_key_pub(0));
    std::string type, blob;
    key >> type >> blob;
    CHECK(recorded.find(fmt::format("{} {} {}", addr, type, blob)) != std::string::npos);

    o.accept_new_host_key = false; // now known: no opt-in needed
    auto known = open_ssh_command(o, "true", {});
    REQUIRE_MESSAGE(known.has_value(), known.error().message);
    (*known)->close();
}

TEST_CASE("ssh: a changed host key is refused even with the opt-in") {
    if (skip_without_netns()) return;
    netns_hosts f(2);
    auto o = options_for(f, 0);
    const std::string& addr = f.hosts()[0].address;
    o.known_hosts = f.dir() + "/changed_known_hosts";
    std::istringstream other(f.host_key_pub(1)); // host2's key recorded for host1: an impostor
    std::string type, blob;
    other >> type >> blob;
    std::ofstream(o.known_hosts) << addr << ' ' << type << ' ' << blob << '\n';
    std::string expected =
        fmt::format("host host1: HOST KEY OF {0} HAS CHANGED (it now offers ssh-ed25519 {1}) - this may be a "
                    "man-in-the-middle attack, not connecting; if the change is expected, verify the new "
                    "key, then remove "
                    "the old one with `ssh-keygen -f {2} -R {0}`",
                    addr, fingerprint(f.dir() + "/host1/ssh_host_ed25519_key.pub"), o.known_hosts);
    for (bool opt_in : {false, true}) {
        o.accept_new_host_key = opt_in;
        auto r = open_ssh_command(o, "true", {});
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().message == expected);
    }
}

TEST_CASE("ssh: a wrong key or user is an authentication error naming the host") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    const std::string& addr = f.hosts()[0].address;
    auto o = options_for(f, 0);
    o.identity = f.dir() + "/wrong_key";
    run_shell(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {}", o.identity));
    auto wrong_key = open_ssh_command(o, "true", {});
    REQUIRE_FALSE(wrong_key.has_value());
    CHECK(wrong_key.error().message ==
          fmt::format("host host1 (root@{}:22): authentication failed (tried: identity {}, default keys)",
                      addr, o.identity));

    auto u = options_for(f, 0);
    u.target.user = "kp-no-such-user";
    auto wrong_user = open_ssh_command(u, "true", {});
    REQUIRE_FALSE(wrong_user.has_value());
    CHECK(
        wrong_user.error().message ==
        fmt::format("host host1 (kp-no-such-user@{}:22): authentication failed (tried: identity {}, default "
                    "keys)",
                    addr, u.identity));

    auto m = options_for(f, 0);
    m.identity = f.dir() + "/missing_key";
    auto missing = open_ssh_command(m, "true", {});
    REQUIRE_FALSE(missing.has_value());
    CHECK(missing.error().message ==
          fmt::format("host host1 (root@{}:22): cannot read the private key {} (missing, unreadable, or "
                      "protected by a passphrase: load such keys into ssh-agent instead)",
                      addr, m.identity));
}

TEST_CASE("ssh: an unreachable host times out within the configured time") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    auto o = options_for(f, 0);
    o.target.host = f.unused_address(); // in the test subnet, nobody answers ARP for it
    o.host_name = "ghost";
    o.connect_timeout = 1500ms;
    auto start = clock_type::now();
    auto r = open_ssh_command(o, "true", {});
    auto took = clock_type::now() - start;
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message ==
          fmt::format("host ghost: connect to {}:22: timed out after 1500ms", o.target.host));
    CHECK(r.error().kind == kp::error_kind::timeout); // a decision goes by kind, not by "timed out"
    CHECK(took >= 1400ms);
    CHECK(took < 2500ms);
}

TEST_CASE("ssh: a stopped sshd is refused at once") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    f.stop_sshd(0);
    auto o = options_for(f, 0);
    o.connect_timeout = 2s;
    auto start = clock_type::now();
    auto r = open_ssh_command(o, "true", {});
    auto took = clock_type::now() - start;
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.starts_with(fmt::format("host host1: connect to {}:22: ", f.hosts()[0].address)));
    CHECK(r.error().message.find("refused") != std::string::npos);
    CHECK(took < 2s);
}

TEST_CASE("ssh: SIGKILL of the runner side leaves no remote process behind after 5 s") {
    if (skip_without_netns()) return;
    netns_hosts f(1);
    check_sigkill_leaves_nothing(f, "exec cat");
}
