// ssh_config for one host: libssh's parser applies it; our scan names what libssh 0.10 ignores.
#include "remote/ssh/config.hpp"

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "remote/ssh/session.hpp"

namespace kp::remote {

namespace {

constexpr int max_include_depth = 16;

/// What we do with a keyword (lowercase) that applies.
enum class keyword_use : std::uint8_t { honoured, ignored, fatal };

struct keyword_rule {
    std::string_view name;
    keyword_use use;
    std::string_view why; ///< for ignored and fatal ones
};

constexpr std::string_view not_applicable = "does not apply (kperf-plan opens no terminal and no forwarding)";
constexpr std::string_view not_in_libssh = "is not supported by libssh 0.10";

// What libssh 0.10 applies, and what its parser skips (tests/remote/ssh/config_test.cpp checks
// this table against the installed libssh's own warnings).
constexpr keyword_rule rules[] = {
    {"hostname", keyword_use::honoured, {}},
    {"user", keyword_use::honoured, {}},
    {"port", keyword_use::honoured, {}},
    {"identityfile", keyword_use::honoured, {}},
    {"proxyjump", keyword_use::honoured, {}}, // kperf-plan opens the jumps itself
    {"ciphers", keyword_use::honoured, {}},
    {"macs", keyword_use::honoured, {}},
    {"kexalgorithms", keyword_use::honoured, {}},
    {"hostkeyalgorithms", keyword_use::honoured, {}},
    {"pubkeyacceptedalgorithms", keyword_use::honoured, {}},
    {"pubkeyacceptedkeytypes", keyword_use::honoured, {}},
    {"compression", keyword_use::honoured, {}},
    {"bindaddress", keyword_use::honoured, {}},
    {"rekeylimit", keyword_use::honoured, {}},
    {"globalknownhostsfile", keyword_use::honoured, {}},
    {"userknownhostsfile", keyword_use::honoured, {}}, // unless the plan or --known-hosts names one
    {"identityagent", keyword_use::honoured, {}},
    {"stricthostkeychecking", keyword_use::honoured, {}}, // "yes" only: see line_at
    {"pubkeyauthentication", keyword_use::honoured, {}},
    // kperf-plan authenticates with keys only: these can only restrict what it never does.
    {"passwordauthentication", keyword_use::honoured, {}},
    {"kbdinteractiveauthentication", keyword_use::honoured, {}},
    {"gssapiauthentication", keyword_use::honoured, {}},
    {"gssapiserveridentity", keyword_use::honoured, {}},
    {"gssapiclientidentity", keyword_use::honoured, {}},
    {"gssapidelegatecredentials", keyword_use::honoured, {}},
    {"connecttimeout", keyword_use::ignored, "is ignored: settings.connect_timeout applies"},
    {"loglevel", keyword_use::ignored, "is ignored: libssh logging stays off"},
    {"proxycommand", keyword_use::fatal,
     "is not supported: kperf-plan reaches jump hosts itself (ProxyJump, or jump: in the plan), checking "
     "their host keys against its known_hosts"},
    {"hostkeyalias", keyword_use::fatal,
     "is not supported by libssh 0.10: the host key would be checked under "
     "another name"},
    {"canonicalizehostname", keyword_use::fatal,
     "is not supported by libssh 0.10: the name would reach another host than with OpenSSH"},
    {"knownhostscommand", keyword_use::fatal,
     "is not supported by libssh 0.10: host keys come from known_hosts"},
    {"certificatefile", keyword_use::fatal,
     "is not supported by libssh 0.10: no certificate would be offered"},
    {"pkcs11provider", keyword_use::fatal,
     "is not supported by libssh 0.10: those keys would not be offered"},
    {"securitykeyprovider", keyword_use::fatal,
     "is not supported by libssh 0.10: those keys would not be offered"},
    {"clearallforwardings", keyword_use::ignored, not_applicable},
    {"controlmaster", keyword_use::ignored, not_applicable},
    {"controlpersist", keyword_use::ignored, not_applicable},
    {"controlpath", keyword_use::ignored, not_applicable},
    {"dynamicforward", keyword_use::ignored, not_applicable},
    {"escapechar", keyword_use::ignored, not_applicable},
    {"exitonforwardfailure", keyword_use::ignored, not_applicable},
    {"forwardagent", keyword_use::ignored, not_applicable},
    {"forwardx11", keyword_use::ignored, not_applicable},
    {"forwardx11timeout", keyword_use::ignored, not_applicable},
    {"forwardx11trusted", keyword_use::ignored, not_applicable},
    {"gatewayports", keyword_use::ignored, not_applicable},
    {"localcommand", keyword_use::ignored, not_applicable},
    {"localforward", keyword_use::ignored, not_applicable},
    {"permitlocalcommand", keyword_use::ignored, not_applicable},
    {"remotecommand", keyword_use::ignored, not_applicable},
    {"remoteforward", keyword_use::ignored, not_applicable},
    {"requesttty", keyword_use::ignored, not_applicable},
    {"sendenv", keyword_use::ignored, not_applicable},
    {"setenv", keyword_use::ignored, not_applicable},
    {"sessiontype", keyword_use::ignored, not_applicable},
    {"stdinnull", keyword_use::ignored, not_applicable},
    {"forkafterauthentication", keyword_use::ignored, not_applicable},
    {"tunnel", keyword_use::ignored, not_applicable},
    {"tunneldevice", keyword_use::ignored, not_applicable},
    {"xauthlocation", keyword_use::ignored, not_applicable},
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

/// `*` and `?` globbing, as ssh_config patterns.
bool glob_match(std::string_view pat, std::string_view s) {
    if (pat.empty()) return s.empty();
    if (pat[0] == '*') {
        for (std::size_t i = 0; i <= s.size(); ++i)
            if (glob_match(pat.substr(1), s.substr(i))) return true;
        return false;
    }
    if (s.empty()) return false;
    if (pat[0] != '?' && pat[0] != s[0]) return false;
    return glob_match(pat.substr(1), s.substr(1));
}

/// Whitespace- or comma-separated patterns, `!` negating: any positive matches and no negated one.
bool pattern_list_match(const std::vector<std::string>& patterns, const std::string& value) {
    std::string v = lower(value);
    bool any = false;
    for (const auto& raw : patterns) {
        std::string p = lower(raw);
        bool negated = p.starts_with('!');
        if (negated) p.erase(0, 1);
        if (!glob_match(p, v)) continue;
        if (negated) return false;
        any = true;
    }
    return any;
}

std::vector<std::string> tokens(std::string_view s, bool commas) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (char c : s) {
        if (c == '"') {
            quoted = !quoted;
            continue;
        }
        bool sep = !quoted && (std::isspace(static_cast<unsigned char>(c)) != 0 || (commas && c == ','));
        if (sep) {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

std::string local_user_name() {
    if (const passwd* pw = getpwuid(geteuid()); pw != nullptr && pw->pw_name != nullptr) return pw->pw_name;
    return {};
}

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// One pass over the files, in order, with OpenSSH's "first value wins" where it matters.
class scanner {
  public:
    scanner(std::string host, std::string user) : host_(std::move(host)), user_(std::move(user)) {}

    void feed(std::string_view file, std::string_view text, int depth = 0) {
        bool applies = true; // lines before the first Host or Match apply to every host
        int line_no = 0;
        std::size_t pos = 0;
        while (pos <= text.size()) {
            auto nl = text.find('\n', pos);
            std::string_view line = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
            pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
            ++line_no;
            line_at(file, line_no, line, applies, depth);
        }
    }

    config_scan out;

  private:
    void note(std::string_view file, int line, std::string_view keyword, std::string_view what, bool fatal) {
        out.notes.push_back({std::string(file), line, std::string(keyword), std::string(what), fatal});
    }

    void line_at(std::string_view file, int n, std::string_view line, bool& applies, int depth) {
        auto start = line.find_first_not_of(" \t\r");
        if (start == std::string_view::npos || line[start] == '#') return;
        line.remove_prefix(start);
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())) != 0)
            line.remove_suffix(1);
        auto end = line.find_first_of(" \t=");
        std::string_view keyword = line.substr(0, end);
        std::string_view value = end == std::string_view::npos ? std::string_view{} : line.substr(end);
        auto vstart = value.find_first_not_of(" \t");
        if (vstart != std::string_view::npos && value[vstart] == '=')
            vstart = value.find_first_not_of(" \t", vstart + 1);
        value = vstart == std::string_view::npos ? std::string_view{} : value.substr(vstart);
        std::string kw = lower(keyword);
        if (kw == "host") {
            applies = pattern_list_match(tokens(value, false), host_);
            return;
        }
        if (kw == "match") {
            applies = match(file, n, tokens(value, false));
            return;
        }
        if (!applies) return;
        if (kw == "include") {
            for (const auto& pattern : tokens(value, false))
                include(file, n, pattern, depth);
            return;
        }
        auto v = tokens(value, false);
        std::string first = v.empty() ? std::string() : v.front();
        const keyword_rule* rule = nullptr;
        for (const auto& r : rules)
            if (r.name == kw) rule = &r;
        if (rule == nullptr) return note(file, n, keyword, not_in_libssh, false);
        if (kw == "proxyjump" && out.proxy_jump.empty()) {
            out.proxy_jump = first;
            out.proxy_jump_at = fmt::format("{}:{}", file, n);
        } else if (kw == "identityfile") {
            out.identity_files.push_back(first);
        } else if (kw == "userknownhostsfile" && out.user_known_hosts.empty()) {
            out.user_known_hosts = first;
        } else if (kw == "identityagent") {
            out.identity_agent = lower(first) != "none";
        } else if (kw == "hostname" && hostname_.empty()) {
            hostname_ = first;
        }
        if (kw == "proxycommand" && lower(first) == "none") return;
        if (kw == "canonicalizehostname" && lower(first) == "no") return;
        if (kw == "stricthostkeychecking") {
            if (lower(first) != "yes" && lower(first) != "true")
                note(file, n, keyword,
                     fmt::format("{} is ignored: host keys are always checked strictly "
                                 "(--accept-new-host-keys records unknown ones)",
                                 first),
                     false);
            return;
        }
        if (rule->use != keyword_use::honoured)
            note(file, n, keyword, rule->why, rule->use == keyword_use::fatal);
    }

    /// libssh 0.10's Match: all, host, originalhost, user, localuser; exec never matches there.
    bool match(std::string_view file, int n, const std::vector<std::string>& args) {
        bool result = true;
        for (std::size_t i = 0; i < args.size(); ++i) {
            std::string what = lower(args[i]);
            bool negate = what.starts_with('!');
            if (negate) what.erase(0, 1);
            if (what == "all") {
                if (negate) result = false;
                continue;
            }
            if (what == "canonical" || what == "final") {
                note(file, n, "Match " + what, "is not supported by libssh 0.10, ignored", false);
                continue;
            }
            if (i + 1 >= args.size()) return false;
            std::vector<std::string> list = tokens(args[++i], true);
            bool hit = false;
            if (what == "host")
                hit = pattern_list_match(list, hostname_.empty() ? host_ : hostname_);
            else if (what == "originalhost")
                hit = pattern_list_match(list, host_);
            else if (what == "user")
                hit = pattern_list_match(list, user_);
            else if (what == "localuser")
                hit = pattern_list_match(list, local_user_name());
            else {
                note(file, n, "Match " + what,
                     what == "exec" ? "is not supported by libssh 0.10: the block would never apply"
                                    : "is not supported by libssh 0.10",
                     true);
                return false;
            }
            if (hit == negate) result = false;
        }
        return result;
    }

    void include(std::string_view file, int n, const std::string& pattern, int depth) {
        if (depth >= max_include_depth) return note(file, n, "Include", "nests too deep", true);
        glob_t g{};
        int rc = ::glob(pattern.c_str(), GLOB_TILDE, nullptr, &g);
        if (rc == 0)
            for (std::size_t i = 0; i < g.gl_pathc; ++i) {
                std::string path = g.gl_pathv[i];
                if (auto text = read_text(path))
                    feed(path, *text, depth + 1);
                else
                    note(file, n, "Include", fmt::format("cannot read {}", path), false);
            }
        ::globfree(&g);
    }

    std::string host_, user_, hostname_;
};

std::string join_notes(const std::vector<const config_note*>& notes) {
    std::string out;
    for (const auto* n : notes)
        out += (out.empty() ? "" : "; ") + n->str();
    return out;
}

/// Warns about `n` once per process (several hosts match the same `Host *` block).
void warn_once(const config_note& n, const log_sink& warn) {
    static std::mutex mu;
    static std::set<std::string> said;
    std::string key = fmt::format("{}:{}:{}", n.file, n.line, n.keyword);
    {
        std::lock_guard lock(mu);
        if (!said.insert(key).second) return;
    }
    if (warn) warn(fmt::format("warning: ssh_config {}, ignored", n.str()));
}

result<std::vector<ssh_target>> parse_hops(const std::string& list, const std::string& where) {
    std::vector<ssh_target> hops;
    for (const auto& hop : tokens(list, true)) {
        auto t = parse_ssh_target(hop);
        if (!t) return fail(fmt::format("{}: ProxyJump: {}", where, t.error().message));
        hops.push_back(*t);
    }
    return hops;
}

} // namespace

std::string config_note::str() const {
    return fmt::format("{}:{}: {} {}", file, line, keyword, what);
}

std::string expand_tilde(const std::string& path) {
    const char* home = std::getenv("HOME");
    if (path.starts_with("~/") && home != nullptr) return std::string(home) + path.substr(1);
    return path;
}

config_scan scan_ssh_config(std::string_view file, std::string_view text, const std::string& host,
                            const std::string& user) {
    scanner s(host, user);
    s.feed(file, text);
    return std::move(s.out);
}

std::vector<std::string> ssh_config_files(const std::string& setting) {
    if (setting == "none") return {};
    if (!setting.empty()) return {expand_tilde(setting)};
    return {expand_tilde("~/.ssh/config"), "/etc/ssh/ssh_config"};
}

result<resolved_target> apply_ssh_config(ssh_session s, const ssh_options& o, const log_sink& warn) {
    const ssh_target& written = o.target;
    if (!written.user.empty() && ssh_options_set(s, SSH_OPTIONS_USER, written.user.c_str()) != SSH_OK)
        return fail(fmt::format("libssh options: {}", ssh_get_error(s)));
    scanner scan(written.host, written.user);
    std::vector<std::string> files;
    for (const auto& f : ssh_config_files(o.ssh_config)) {
        auto text = read_text(f);
        if (!text) {
            if (!o.ssh_config.empty()) return fail(fmt::format("ssh_config {}: cannot read the file", f));
            continue; // the default files are optional, as for ssh
        }
        scan.feed(f, *text);
        files.push_back(f);
    }
    std::vector<const config_note*> fatal;
    for (const auto& n : scan.out.notes)
        if (n.fatal)
            fatal.push_back(&n);
        else
            warn_once(n, warn);
    if (!fatal.empty()) {
        error e = make_error(fmt::format("ssh_config {}", join_notes(fatal)));
        e.kind = error_kind::usage;
        return std::unexpected(e);
    }
    for (const auto& f : files)
        if (ssh_options_parse_config(s, f.c_str()) != 0)
            return fail(fmt::format("ssh_config {}: libssh: {}", f, ssh_get_error(s)));

    resolved_target r;
    char* value = nullptr;
    if (ssh_options_get(s, SSH_OPTIONS_HOST, &value) == SSH_OK) {
        r.target.host = value;
        ssh_string_free_char(value);
    } else {
        r.target.host = written.host;
    }
    r.target.user = written.user;
    if (r.target.user.empty() && ssh_options_get(s, SSH_OPTIONS_USER, &value) == SSH_OK) {
        r.target.user = value;
        ssh_string_free_char(value);
    }
    if (r.target.user.empty()) r.target.user = local_user_name();
    if (r.target.user.empty())
        return fail(fmt::format("no user for '{}': ssh: has no user@, ssh_config gives no User, and the "
                                "local user (uid {}) has no name",
                                written.host, geteuid()));
    unsigned int port = written.port;
    if (port == 0 && ssh_options_get_port(s, &port) != SSH_OK) port = 22;
    r.target.port = static_cast<std::uint16_t>(port);

    // libssh 0.10 turns ProxyJump into a ProxyCommand running `ssh -W`: we open jumps ourselves.
    if (ssh_options_get(s, SSH_OPTIONS_PROXYCOMMAND, &value) == SSH_OK) {
        std::string command = value;
        ssh_string_free_char(value);
        if (!command.empty() && scan.out.proxy_jump.empty())
            return fail(fmt::format("ssh_config: libssh set a ProxyCommand ({}) that kperf-plan cannot "
                                    "place in the files",
                                    command));
    }
    bool yes = true;
    int quiet = SSH_LOG_NOLOG;
    if (ssh_options_set(s, SSH_OPTIONS_PROXYCOMMAND, "none") != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, r.target.host.c_str()) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_USER, r.target.user.c_str()) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_PORT, &port) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &quiet) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &yes) != SSH_OK)
        return fail(fmt::format("libssh options: {}", ssh_get_error(s)));

    if (!o.known_hosts.empty())
        r.known_hosts = o.known_hosts;
    else if (!scan.out.user_known_hosts.empty())
        r.known_hosts = expand_tilde(scan.out.user_known_hosts);
    else
        r.known_hosts = known_hosts_path(o);
    if (!o.jump.empty()) {
        r.jump = o.jump;
    } else if (!scan.out.proxy_jump.empty() && lower(scan.out.proxy_jump) != "none") {
        auto hops = parse_hops(scan.out.proxy_jump, scan.out.proxy_jump_at);
        if (!hops) return fail(hops.error());
        r.jump = std::move(*hops);
    }
    r.identities = scan.out.identity_files;
    r.identity_agent = scan.out.identity_agent;
    return r;
}

result<resolved_target> resolve_ssh_target(const ssh_options& o, const log_sink& warn) {
    ssh_session s = ssh_new();
    if (s == nullptr) return fail("libssh: cannot allocate a session");
    std::unique_ptr<ssh_session_struct, void (*)(ssh_session)> guard(s, ssh_free);
    bool process_config = false;
    if (ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config) != SSH_OK ||
        ssh_options_set(s, SSH_OPTIONS_HOST, o.target.host.c_str()) != SSH_OK)
        return fail(fmt::format("libssh options: {}", ssh_get_error(s)));
    return apply_ssh_config(s, o, warn);
}

} // namespace kp::remote
