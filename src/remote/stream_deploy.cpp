// Self-deployment through a host shell: probe, directory checks, `cat > tmp`, verify, rename.
#include "remote/stream_deploy.hpp"

#include <sys/utsname.h>

#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

namespace kp::remote {

namespace {

/// Quotes `s` for a POSIX shell: 'it'\''s'.
std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// Prints "arch", "uid", "home", "sha256sum", then "base"/"dir"/"file" (`ls -ldn`: type and
/// mode, uid) for the paths that exist, "sum" of the binary, and "end".
std::string probe_script(const std::string& sha) {
    return fmt::format(R"SH(exec 2>&1; set -f
b="$HOME/.cache/kperf-plan"; d="$b/{0}"; f="$d/kperf-plan"
echo "arch $(uname -m)"; echo "uid $(id -u)"; printf 'home %s\n' "$HOME"
if command -v sha256sum >/dev/null 2>&1; then echo "sha256sum yes"; else echo "sha256sum no"; fi
kp_ls() {{ if [ -e "$2" ] || [ -L "$2" ]; then set -- "$1" $(ls -ldn "$2"); echo "$1 $2 $4"; fi; }}
kp_ls base "$b"; kp_ls dir "$d"; kp_ls file "$f"
if [ -f "$f" ] && [ ! -L "$f" ] && command -v sha256sum >/dev/null 2>&1; then
  s=$(sha256sum < "$f") && echo "sum ${{s%% *}}"
fi
echo end
)SH",
                       sha);
}

/// Creates ~/.cache/kperf-plan and its <sha> directory, 0700 (the checks come after, by probe).
std::string mkdir_script(const std::string& sha) {
    return fmt::format(R"SH(exec 2>&1; umask 077
b="$HOME/.cache/kperf-plan"; d="$b/{}"
mkdir -p "$HOME/.cache" || exit 1
mkdir -m 700 "$b" 2>/dev/null || [ -d "$b" ] || {{ echo "cannot create $b"; exit 1; }}
mkdir -m 700 "$d" 2>/dev/null || [ -d "$d" ] || {{ echo "cannot create $d"; exit 1; }}
)SH",
                       sha);
}

/// Verifies the temporary file's hash, then chmod 755 and rename over the final name. Prints
/// "installed", or "mismatch <sha>" (exit 3), "isdir" (exit 4), "rename failed" (exit 6).
std::string install_script(const std::string& tmp, const std::string& final_path, const std::string& sha) {
    return fmt::format(R"SH(t={0}; f={1}
s=$(sha256sum < "$t") || {{ rm -f "$t"; echo "cannot hash $t"; exit 2; }}
s=${{s%% *}}
if [ "$s" != "{2}" ]; then rm -f "$t"; echo "mismatch $s"; exit 3; fi
if [ -d "$f" ] && [ ! -L "$f" ]; then rm -f "$t"; echo "isdir"; exit 4; fi
chmod 755 "$t" || {{ rm -f "$t"; echo "chmod failed"; exit 5; }}
mv -f "$t" "$f" || {{ rm -f "$t"; echo "rename failed"; exit 6; }}
echo installed
)SH",
                       quote(tmp), quote(final_path), sha);
}

std::optional<path_facts> parse_facts(std::istringstream& in) {
    path_facts p;
    in >> p.mode >> p.uid;
    if (p.mode.size() < 10 || p.uid < 0) return std::nullopt;
    p.type = p.mode[0] == '-' ? '-' : p.mode[0];
    return p;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

} // namespace

result<std::string> sha256_file(const std::string& path) {
    static std::mutex mu;
    static std::map<std::string, std::string> cache;
    std::lock_guard lock(mu);
    if (auto it = cache.find(path); it != cache.end()) return it->second;

    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(fmt::format("hashing {}: cannot open it", path));
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
        return fail(fmt::format("hashing {}: OpenSSL cannot start SHA-256", path));
    std::vector<char> buf(1 << 16);
    while (in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(in.gcount()));
    }
    if (in.bad()) return fail(fmt::format("hashing {}: read error", path));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx.get(), md, &len);
    std::string hex;
    for (unsigned int i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    cache[path] = hex;
    return hex;
}

std::string local_machine() {
    utsname u{};
    if (uname(&u) != 0) return "unknown";
    return u.machine;
}

result<deploy_probe> parse_probe(const std::string& out) {
    deploy_probe p;
    bool ended = false;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        auto sp = line.find(' ');
        std::string key = line.substr(0, sp), rest = sp == std::string::npos ? "" : line.substr(sp + 1);
        std::istringstream in(rest);
        if (key == "arch")
            p.arch = rest;
        else if (key == "uid")
            in >> p.uid;
        else if (key == "home")
            p.home = rest;
        else if (key == "sha256sum")
            p.has_sha256sum = rest == "yes";
        else if (key == "base")
            p.base = parse_facts(in);
        else if (key == "dir")
            p.dir = parse_facts(in);
        else if (key == "file")
            p.file = parse_facts(in);
        else if (key == "sum")
            p.file_sha256 = rest;
        else if (key == "end")
            ended = true;
    }
    if (!ended || p.arch.empty() || p.home.empty() || p.uid < 0)
        return fail(fmt::format("probing for the agent binary: unexpected answer '{}'", trimmed(out)));
    return p;
}

result<void> check_deploy_dir(const path_facts& p, long uid, const std::string& shown) {
    auto refuse = [&](std::string why) {
        return fail(
            fmt::format("refusing the deploy directory {}: {} (remove it, or set agent_path)", shown, why));
    };
    if (p.type == 'l') return refuse("it is a symlink");
    if (p.type != 'd') return refuse(fmt::format("it is not a directory ({})", p.mode));
    if (p.uid != uid)
        return refuse(fmt::format("it is owned by uid {}, not by the user (uid {})", p.uid, uid));
    if (p.mode[5] == 'w' || p.mode[8] == 'w')
        return refuse(fmt::format("it is group- or world-writable ({})", p.mode));
    return {};
}

result<stream_deployed> deploy_over_shell(const host_shell& shell, const std::string& label,
                                          const std::string& local_binary, const uploader& upload) {
    auto sha = sha256_file(local_binary);
    if (!sha) return fail(sha.error().context(label));
    auto probe = [&]() -> result<deploy_probe> {
        auto r = shell(probe_script(*sha), {});
        if (!r) return fail(r.error());
        auto p = parse_probe(r->out);
        if (!p) return fail(p.error().context(label));
        return p;
    };
    auto p = probe();
    if (!p) return fail(p.error());
    if (p->arch != local_machine())
        return fail(
            fmt::format("{}: architecture mismatch: the host is {} but this kperf-plan is built for {}; "
                        "install a {} build there and set agent_path",
                        label, p->arch, local_machine(), p->arch));
    if (!p->has_sha256sum)
        return fail(fmt::format("{}: the host has no sha256sum, which kperf-plan needs to verify its binary "
                                "there (install coreutils or busybox, or set agent_path)",
                                label));
    std::string base_shown = "~/.cache/kperf-plan", dir_shown = base_shown + "/" + *sha;
    auto check_dirs = [&](const deploy_probe& q) -> result<void> {
        if (q.base)
            if (auto c = check_deploy_dir(*q.base, q.uid, base_shown); !c)
                return fail(c.error().context(label));
        if (q.dir)
            if (auto c = check_deploy_dir(*q.dir, q.uid, dir_shown); !c)
                return fail(c.error().context(label));
        return {};
    };
    if (auto c = check_dirs(*p); !c) return fail(c.error());
    std::string dir = fmt::format("{}/.cache/kperf-plan/{}", p->home, *sha);
    stream_deployed out{dir + "/kperf-plan", false};
    // A verified regular executable is used as it is; anything else there is replaced.
    if (p->file && p->file->type == '-' && p->file->mode[3] == 'x' && p->file_sha256 == *sha) return out;

    auto mk = shell(mkdir_script(*sha), {});
    if (!mk) return fail(mk.error());
    if (mk->exit_status != 0) return fail(fmt::format("{}: creating {}: {}", label, dir, trimmed(mk->out)));
    auto again = probe();
    if (!again) return fail(again.error());
    if (!again->base || !again->dir)
        return fail(fmt::format("{}: creating {}: it does not exist after mkdir", label, dir));
    if (auto c = check_dirs(*again); !c) return fail(c.error());

    std::string tmp = fmt::format("{}/.kperf-plan.tmp-{:08x}", dir, std::random_device{}());
    std::string install = install_script(tmp, out.remote_path, *sha);
    result<shell_output> done = fail("not run");
    result<bool> sent = upload ? upload(tmp) : result<bool>(false);
    if (!sent) {
        (void)shell(fmt::format("rm -f {}", quote(tmp)), {});
        return fail(sent.error());
    }
    if (*sent) {
        done = shell("exec 2>&1\n" + install, {});
    } else {
        out.through_shell = true;
        std::ifstream in(local_binary, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (!in && !in.eof()) return fail(fmt::format("{}: reading {}: cannot open it", label, local_binary));
        done = shell(fmt::format("exec 2>&1; umask 077; set -C\ncat > {0} || {{ rm -f {0}; echo \"cannot "
                                 "write {0}\"; exit 7; }}\n{1}",
                                 quote(tmp), install),
                     bytes);
    }
    if (!done) return fail(done.error());
    std::string said = trimmed(done->out);
    if (done->exit_status == 0 && said.ends_with("installed")) {
        out.uploaded = true;
        return out;
    }
    if (said.starts_with("mismatch "))
        return fail(
            fmt::format("{}: deploying {}: what arrived hashes to {} on the host, not {}; not installed",
                        label, out.remote_path, said.substr(9), *sha));
    if (said == "isdir")
        return fail(fmt::format("{}: deploying {}: it is a directory; remove it", label, out.remote_path));
    return fail(fmt::format("{}: deploying {}: {} (exit status {})", label, out.remote_path,
                            said.empty() ? "failed" : said, done->exit_status));
}

} // namespace kp::remote
