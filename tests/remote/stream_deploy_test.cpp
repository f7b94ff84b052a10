// The stream deploy against a real shell on this machine (a fake host: HOME and PATH of our
// choosing): the probe's answer, refusals, a host without sha256sum, and a corrupted upload.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "remote/stream_deploy.hpp"

using namespace kp::remote;
namespace fs = std::filesystem;

namespace {

/// A directory standing for a host: its home, and a PATH holding only the tools listed.
struct fake_host {
    fs::path root;
    explicit fake_host(const std::vector<std::string>& tools) {
        root = fs::temp_directory_path() / fmt::format("kp-stream-deploy-{:08x}", std::random_device{}());
        fs::create_directories(root / "home");
        fs::create_directories(root / "bin");
        for (const auto& t : tools)
            for (const char* dir : {"/usr/bin/", "/bin/"})
                if (fs::exists(std::string(dir) + t)) {
                    fs::create_symlink(std::string(dir) + t, root / "bin" / t);
                    break;
                }
    }
    ~fake_host() { fs::remove_all(root); }

    /// Runs the script with /bin/sh, HOME and PATH of this host; `mangle` alters the input first.
    host_shell shell(std::function<std::string(std::string_view)> mangle = {}) const {
        return [this, mangle](const std::string& script, std::string_view input) -> kp::result<shell_output> {
            std::ofstream(root / "script") << script;
            std::ofstream(root / "input", std::ios::binary) << (mangle ? mangle(input) : std::string(input));
            std::string cmd = fmt::format("env -i HOME={0}/home PATH={0}/bin /bin/sh {0}/script < {0}/input",
                                          root.string());
            FILE* p = ::popen(cmd.c_str(), "r");
            if (p == nullptr) return kp::fail("popen");
            shell_output out;
            char buf[4096];
            for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
                out.out.append(buf, n);
            int status = ::pclose(p);
            out.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            return out;
        };
    }
};

const std::vector<std::string> tools = {"uname", "id",    "ls", "mkdir", "head",
                                        "cat",   "chmod", "mv", "rm",    "sha256sum"};

std::string binary() {
    const char* bin = std::getenv("KPERF_PLAN_BIN");
    REQUIRE_MESSAGE(bin != nullptr, "KPERF_PLAN_BIN is not set");
    return bin;
}

} // namespace

TEST_CASE("stream deploy: parses the probe and judges deploy directories") {
    auto p = parse_probe("arch x86_64\nuid 0\nhome /root\nsha256sum yes\nbase drwx------ 0\n"
                         "dir lrwxrwxrwx 0\nfile -rwxr-xr-x 1000\nsum abc\nend\n");
    REQUIRE_MESSAGE(p.has_value(), p.error().message);
    CHECK(p->arch == "x86_64");
    CHECK(p->home == "/root");
    CHECK(p->has_sha256sum);
    REQUIRE(p->dir.has_value());
    CHECK(p->dir->type == 'l');
    CHECK(p->file->uid == 1000);
    CHECK(p->file_sha256 == "abc");
    CHECK(parse_probe("arch x86_64\n").error().message ==
          "probing for the agent binary: unexpected answer 'arch x86_64'");

    auto msg = [](std::string mode, long uid) {
        auto r = check_deploy_dir({mode[0], mode, uid}, 0, "D");
        return r ? std::string("ok") : r.error().message;
    };
    CHECK(msg("drwx------", 0) == "ok");
    CHECK(msg("drwxr-xr-x", 0) == "ok");
    CHECK(msg("lrwxrwxrwx", 0) ==
          "refusing the deploy directory D: it is a symlink (remove it, or set agent_path)");
    CHECK(msg("drwxrwxrwx", 0) == "refusing the deploy directory D: it is group- or world-writable "
                                  "(drwxrwxrwx) (remove it, or set agent_path)");
    CHECK(msg("drwx----w-", 0) == "refusing the deploy directory D: it is group- or world-writable "
                                  "(drwx----w-) (remove it, or set agent_path)");
    CHECK(msg("drwx------", 1000) == "refusing the deploy directory D: it is owned by uid 1000, not by the "
                                     "user (uid 0) (remove it, or set "
                                     "agent_path)");
    CHECK(
        msg("-rwx------", 0) ==
        "refusing the deploy directory D: it is not a directory (-rwx------) (remove it, or set agent_path)");
}

TEST_CASE("stream deploy: uploads with cat, then finds the verified copy; replaces a tampered one") {
    fake_host h(tools);
    auto first = deploy_over_shell(h.shell(), "host h", binary());
    REQUIRE_MESSAGE(first.has_value(), first.error().message);
    CHECK(first->uploaded);
    CHECK(first->through_shell);
    CHECK(*sha256_file(binary()) ==
          fmt::format("{}", fs::path(first->remote_path).parent_path().filename().string()));
    CHECK((fs::status(fs::path(first->remote_path).parent_path()).permissions() & fs::perms::all) ==
          fs::perms(0700));
    auto again = deploy_over_shell(h.shell(), "host h", binary());
    REQUIRE(again.has_value());
    CHECK_FALSE(again->uploaded);
    std::ofstream(first->remote_path, std::ios::trunc) << "#!/bin/sh\necho tampered\n";
    auto third = deploy_over_shell(h.shell(), "host h", binary());
    REQUIRE(third.has_value());
    CHECK(third->uploaded);
}

TEST_CASE("stream deploy: a host without sha256sum fails clearly") {
    std::vector<std::string> without(tools.begin(), tools.end() - 1);
    fake_host h(without);
    auto r = deploy_over_shell(h.shell(), "host h", binary());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message ==
          "host h: the host has no sha256sum, which kperf-plan needs to verify its binary there "
          "(install coreutils or busybox, or set agent_path)");
}

TEST_CASE("stream deploy: what arrived corrupted is an error, and nothing is installed") {
    fake_host h(tools);
    auto corrupt = [](std::string_view in) {
        std::string s(in);
        if (!s.empty()) s[s.size() / 2] ^= 1;
        return s;
    };
    auto r = deploy_over_shell(h.shell(corrupt), "host h", binary());
    REQUIRE_FALSE(r.has_value());
    std::string sha = *sha256_file(binary());
    std::string dir = (h.root / "home" / ".cache" / "kperf-plan" / sha).string();
    CHECK(r.error().message.starts_with(
        fmt::format("host h: deploying {}/kperf-plan: what arrived hashes to ", dir)));
    CHECK(r.error().message.ends_with(fmt::format(", not {}; not installed", sha)));
    CHECK(fs::is_empty(dir)); // neither the binary nor the temporary
}
