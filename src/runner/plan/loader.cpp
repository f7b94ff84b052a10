// Converts a YAML document into the plan model, reporting every error with its position.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "engine/worker/placement.hpp"
#include "runner/plan/address.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/plan.hpp"
#include "runner/plan/text.hpp"

namespace kp::runner {
namespace {

constexpr std::string_view top_keys[] = {"version",   "name",     "hosts", "defaults",
                                         "scenarios", "settings", "setups"};
constexpr std::string_view setup_keys[] = {"hosts"};
constexpr std::string_view setup_host_keys[] = {"sysctl", "irq_affinity", "run", "undo"};
constexpr std::string_view host_keys[] = {"ssh",        "address", "identity", "known_hosts",
                                          "agent_path", "exec",    "jump"};
constexpr std::string_view settings_keys[] = {"known_hosts", "connect_timeout", "on_error", "ssh_config"};
constexpr std::string_view structured_keys[] = {"name",   "matrix", "placement",      "until", "expect",
                                                "search", "via",    "compare_direct", "group", "clients",
                                                "mesh",   "pairs",  "compare_idle", "gate"};
/// The keys that make a scenario a group; a scenario has at most one of them.
constexpr std::string_view group_keys[] = {"group", "clients", "mesh", "pairs"};
/// Keys that belong to a group as a whole, never to one member; the reason why.
constexpr std::pair<std::string_view, std::string_view> group_only_keys[] = {
    {"matrix", "put the matrix on the group; an axis such as 'NAME.flows' varies one member"},
    {"search", "a search runs its probes one at a time, alone"},
    {"until", "repeats apply to the group as a whole"},
    {"repeat", "repeats apply to the group as a whole"},
    {"duration", "members share the group's window: set it on the group"},
    {"warmup", "members share the group's window: set it on the group"},
    {"compare_direct", "'via' is not supported in a group"},
    {"via", "a proxy chain is not supported in a group member"},
    {"compare_idle", "set it on the group"},
    {"on_error", "set it on the group"},
    {"setup", "a group's setup applies to every host of its members: set it on the group"},
};
constexpr std::string_view search_keys[] = {"rate",           "slo",     "precision", "max_probes",
                                            "probe_duration", "max_time"};
constexpr std::string_view placement_keys[] = {"client", "server", "distinct_rx", "via"};
constexpr std::string_view until_keys[] = {"ci_width", "max_repeat"};
constexpr std::string_view tls_keys[] = {"mode", "tx", "rx"};
constexpr std::string_view no_passwords =
    "'password' is not allowed: plans never hold passwords; use 'identity' (an SSH key file) or ssh-agent";

/// Where `written` splits into MEMBER.name (a group's `up.flows`, `probe.latency_p99`); none when
/// the part after the dot does not start with a letter (`latency_p99.9` is a misspelled metric).
std::optional<std::size_t> member_dot(std::string_view written) {
    auto dot = written.find('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 >= written.size() ||
        !std::isalpha(static_cast<unsigned char>(written[dot + 1])))
        return std::nullopt;
    return dot;
}

source_loc loc_of(const YAML::Node& n) {
    const auto m = n.Mark();
    if (m.is_null() || m.line < 0) return {};
    return {m.line + 1, m.column + 1};
}

std::string kind_of(const YAML::Node& n) {
    switch (n.Type()) {
    case YAML::NodeType::Map:
        return "a mapping";
    case YAML::NodeType::Sequence:
        return "a list";
    case YAML::NodeType::Null:
        return "nothing";
    default:
        return "a scalar";
    }
}

bool is_word(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
}

std::string join(std::span<const std::string_view> words) {
    std::string out;
    for (auto w : words)
        out += (out.empty() ? "" : ", ") + std::string(w);
    return out;
}

class loader {
  public:
    loader(plan& p, diagnostics& d) : p_(p), d_(d) {}

    void top(const YAML::Node& root) {
        if (!root.IsMap()) {
            d_.error(loc_of(root),
                     "expected a mapping with keys version, name, hosts, defaults, scenarios and "
                     "settings, got " +
                         kind_of(root));
            return;
        }
        bool version = false, hosts = false, scenarios = false;
        entries(root, [&](const std::string& key, source_loc kl, const YAML::Node& v) {
            if (key == "version") {
                version = true;
                auto s = scalar(key, kl, v);
                if (s && *s != "1")
                    d_.error(loc_or(v, kl),
                             fmt::format("version: expected 1 (the only plan version), got '{}'", *s));
            } else if (key == "name") {
                if (auto s = scalar(key, kl, v)) {
                    if (is_word(*s))
                        p_.name = *s;
                    else
                        d_.error(
                            loc_or(v, kl),
                            fmt::format("name: expected letters, digits, '_', '-' or '.', got '{}'", *s));
                }
            } else if (key == "hosts") {
                hosts = true;
                host_list(kl, v);
            } else if (key == "defaults") {
                if (map(key, kl, v)) defaults_ok_ = scenario_body(v, p_.defaults, true);
            } else if (key == "scenarios") {
                scenarios = true;
                scenario_list(kl, v);
            } else if (key == "settings") {
                settings(kl, v);
            } else if (key == "setups") {
                setups(kl, v);
            } else if (key.starts_with("x-")) {
                // An extension key, as in compose files: not read, a place for anchors (`&base`)
                // that scenarios merge with `<<: *base`.
            } else {
                unknown(key, kl, top_keys);
            }
        });
        if (!version) d_.error(loc_of(root), "missing 'version: 1'");
        if (!hosts) d_.error(loc_of(root), "missing 'hosts' (e.g. hosts: {me: {}} for this machine)");
        if (!scenarios) d_.error(loc_of(root), "missing 'scenarios' (a list of scenarios)");
        setup_hosts_defined();
    }

    /// One `--set KEY=VALUE`: a known parameter and a value checked as plan text would be.
    void override_item(const std::string& item) {
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0)
            return d_.error({}, "expected KEY=VALUE, e.g. --set duration=1s");
        const std::string key = item.substr(0, eq), text = item.substr(eq + 1);
        auto p = param_from_name(key);
        if (!p) {
            auto hint = did_you_mean(key, param_names());
            return d_.error({}, fmt::format("unknown parameter '{}'{}", key, hint));
        }
        if (*p == param::client || *p == param::server || *p == param::traffic)
            return d_.error({}, fmt::format("'{}' cannot be overridden: it decides what a scenario is", key));
        auto s = value(*p, {}, YAML::Node(text));
        if (!s) return;
        for (const auto& sc : p_.scenarios) {
            auto varies = [&](const scenario& x) {
                for (const auto& a : x.matrix)
                    if (a.key == *p) return a.loc.line;
                for (const auto& e : x.include)
                    for (const auto& v : e.values)
                        if (v.key == *p) return v.loc.line;
                return 0;
            };
            if (int line = varies(sc))
                d_.error({}, fmt::format("scenario '{}' varies '{}' in its matrix (line {}); pick its values "
                                         "with --only instead",
                                         sc.name, key, line));
        }
        p_.overrides.erase(std::remove_if(p_.overrides.begin(), p_.overrides.end(),
                                          [&](const setting& o) { return o.key == *p; }),
                           p_.overrides.end());
        p_.overrides.push_back(std::move(*s));
        p_.override_text.push_back(item);
    }

    /// Indices of scenarios that had errors: expansion skips them to avoid follow-on errors.
    std::vector<std::size_t> bad_scenarios;
    bool defaults_ok_ = true;

  private:
    static source_loc loc_or(const YAML::Node& n, source_loc fallback) {
        auto l = loc_of(n);
        return l.line > 0 ? l : fallback;
    }

    /// Calls f(key, key position, value) for each entry, reporting duplicate and non-scalar keys;
    /// YAML merge keys (`<<: *base`) add the merged mappings' entries that are not written here.
    template <class F> void entries(const YAML::Node& m, F&& f) {
        std::vector<std::pair<std::string, source_loc>> seen;
        std::vector<YAML::Node> merges;
        for (auto it = m.begin(); it != m.end(); ++it) {
            // A copy (a Node is a handle): it-> returns a proxy, and a reference into it dangles.
            const YAML::Node k = it->first;
            if (!k.IsScalar()) {
                d_.error(loc_of(k), "expected a plain key, got " + kind_of(k));
                continue;
            }
            const std::string& key = k.Scalar();
            auto first = std::find_if(seen.begin(), seen.end(), [&](auto& s) { return s.first == key; });
            if (first != seen.end()) {
                d_.error(loc_of(k),
                         fmt::format("duplicate key '{}' (first at line {})", key, first->second.line));
                continue;
            }
            if (key == "<<") { // YAML merge key: its mappings' entries come after the explicit ones
                merges.push_back(it->second);
                continue;
            }
            seen.emplace_back(key, loc_of(k));
            f(key, loc_of(k), it->second);
        }
        // `<<: *base` or `<<: [*a, *b]`: each entry not written here, the first source winning.
        // Their positions are where the anchored mapping was written, so errors point there.
        std::vector<YAML::Node> sources;
        for (const auto& mv : merges) {
            if (mv.IsMap())
                sources.push_back(mv);
            else if (mv.IsSequence())
                for (const auto& x : mv)
                    if (x.IsMap())
                        sources.push_back(x);
                    else
                        d_.error(loc_of(x),
                                 "<<: expected a mapping (an alias such as *base), got " + kind_of(x));
            else
                d_.error(loc_of(mv),
                         "<<: expected a mapping or a list of them (aliases such as *base), got " +
                             kind_of(mv));
        }
        for (const auto& src : sources)
            for (auto it = src.begin(); it != src.end(); ++it) {
                const YAML::Node k = it->first;
                if (!k.IsScalar() || k.Scalar() == "<<") continue;
                const std::string& key = k.Scalar();
                if (std::any_of(seen.begin(), seen.end(), [&](auto& s) { return s.first == key; })) continue;
                seen.emplace_back(key, loc_of(k));
                f(key, loc_of(k), it->second);
            }
    }

    void unknown(const std::string& key, source_loc kl, std::span<const std::string_view> known) {
        auto hint = did_you_mean(key, known);
        if (!hint.empty())
            d_.error(kl, fmt::format("unknown key '{}'{}", key, hint));
        else if (known.size() <= 8)
            d_.error(kl, fmt::format("unknown key '{}' (expected {})", key, join(known)));
        else
            d_.error(kl, fmt::format("unknown key '{}'", key));
    }

    std::optional<std::string> scalar(std::string_view key, source_loc kl, const YAML::Node& v) {
        if (v.IsScalar()) return v.Scalar();
        d_.error(loc_or(v, kl), fmt::format("{}: expected a single value, got {}", key, kind_of(v)));
        return std::nullopt;
    }

    bool map(std::string_view key, source_loc kl, const YAML::Node& v) {
        if (v.IsMap()) return true;
        d_.error(loc_or(v, kl), fmt::format("{}: expected a mapping, got {}", key, kind_of(v)));
        return false;
    }

    void host_list(source_loc kl, const YAML::Node& v) {
        if (!map("hosts", kl, v)) return;
        if (v.size() == 0)
            d_.error(loc_or(v, kl), "hosts: expected at least one host (e.g. me: {} for this machine)");
        entries(v, [&](const std::string& name, source_loc nl, const YAML::Node& hv) {
            host h;
            h.name = name;
            h.loc = nl;
            if (!is_word(name))
                d_.error(nl, fmt::format("host name '{}': expected letters, digits, '_', '-' or '.'", name));
            if (!hv.IsNull() && map(fmt::format("host '{}'", name), nl, hv)) host_body(hv, h);
            if (h.address.empty() && !h.address_auto && !h.exec.empty())
                h.address_auto = ""; // no name to take it from
            if (h.address_auto) h.address = h.address_auto->empty() ? "auto" : "auto:" + *h.address_auto;
            if (h.address.empty()) h.address = h.ssh ? h.ssh->host : "127.0.0.1";
            p_.hosts.push_back(std::move(h));
        });
    }

    void host_body(const YAML::Node& m, host& h) {
        entries(m, [&](const std::string& key, source_loc kl, const YAML::Node& v) {
            if (key == "password") {
                d_.error(kl, std::string(no_passwords));
                return;
            }
            if (std::find(std::begin(host_keys), std::end(host_keys), key) == std::end(host_keys))
                return unknown(key, kl, host_keys);
            if (key == "exec") return exec_command(kl, v, h);
            if (key == "address" && v.IsMap()) return auto_address(kl, v, h);
            auto s = scalar(key, kl, v);
            if (!s) return;
            if (s->empty() || s->find_first_of(" \t") != std::string::npos) {
                d_.error(loc_or(v, kl),
                         fmt::format("{}: expected a value without spaces, got '{}'", key, *s));
                return;
            }
            if (key == "ssh") {
                if (auto t = parse_ssh(*s))
                    h.ssh = *t;
                else
                    d_.error(loc_or(v, kl), fmt::format("ssh: expected [user@]host[:port], got '{}'", *s));
            } else if (key == "jump") {
                jump(*s, loc_or(v, kl), h);
            } else if (key == "address") {
                if (*s == "auto")
                    h.address_auto = "";
                else if (auto a = parse_data_address(*s))
                    h.address = *a;
                else
                    d_.error(loc_or(v, kl), fmt::format("address: {}", a.error()));
            } else if (key == "identity") {
                h.identity = *s;
            } else if (key == "known_hosts") {
                h.known_hosts = *s;
            } else {
                h.agent_path = *s;
            }
        });
        if (h.ssh && m["exec"])
            d_.error(loc_or(m["exec"], loc_of(m)),
                     fmt::format("host '{}' has both 'ssh' and 'exec': it is reached one way, choose one",
                                 h.name));
        for (std::string_view key : {"identity", "known_hosts", "jump"})
            if (!h.ssh && m[std::string(key)])
                d_.error(
                    loc_of(m),
                    h.exec.empty()
                        ? fmt::format("host '{}' has '{}' but no 'ssh': it is the local machine", h.name, key)
                        : fmt::format("host '{}' has '{}' but no 'ssh': it is reached through 'exec'", h.name,
                                      key));
    }

    /// `exec: [kubectl, exec, -i, pod, --]`: a non-empty list of non-empty strings.
    void exec_command(source_loc kl, const YAML::Node& v, host& h) {
        constexpr std::string_view example = "such as [kubectl, exec, -i, -n, perf, pod-a, --]";
        if (!v.IsSequence() || v.size() == 0) {
            d_.error(loc_or(v, kl), fmt::format("exec: expected a non-empty list of strings {}, got {}",
                                                example, v.IsSequence() ? std::string("[]") : kind_of(v)));
            return;
        }
        std::vector<std::string> argv;
        for (std::size_t i = 0; i < v.size(); ++i) {
            const YAML::Node item = v[i];
            if (!item.IsScalar() || item.Scalar().empty()) {
                d_.error(loc_or(item, kl),
                         fmt::format("exec: item {}: expected a non-empty string, got {}", i + 1,
                                     item.IsScalar() ? std::string("''") : kind_of(item)));
                return;
            }
            argv.push_back(item.Scalar());
        }
        h.exec = std::move(argv);
    }

    /// `address: {auto: eth0}`: the address of that interface.
    void auto_address(source_loc kl, const YAML::Node& v, host& h) {
        const YAML::Node name = v["auto"];
        if (v.size() != 1 || !name || !name.IsScalar() || name.Scalar().empty() ||
            name.Scalar().find_first_of(" \t") != std::string::npos) {
            d_.error(loc_or(v, kl),
                     "address: expected an address, 'auto', or {auto: INTERFACE} such as {auto: eth0}");
            return;
        }
        h.address_auto = name.Scalar();
    }

    /// `jump: [user@]host[:port][,...]`, the hops in order, as ssh -J and ProxyJump write them.
    void jump(std::string_view s, source_loc at, host& h) {
        while (true) {
            auto comma = s.find(',');
            auto hop = parse_ssh(s.substr(0, comma));
            if (!hop) {
                d_.error(at, fmt::format("jump: expected [user@]host[:port] (several: a,b), got '{}'",
                                         s.substr(0, comma)));
                h.jump.clear();
                return;
            }
            h.jump.push_back(*hop);
            if (comma == std::string_view::npos) return;
            s.remove_prefix(comma + 1);
        }
    }

    static std::optional<ssh_address> parse_ssh(std::string_view s) {
        ssh_address t;
        if (auto at = s.rfind('@'); at != std::string_view::npos) {
            t.user = std::string(s.substr(0, at));
            s.remove_prefix(at + 1);
            if (t.user.empty()) return std::nullopt;
        }
        std::string_view port;
        if (s.starts_with('[')) {
            auto close = s.find(']');
            if (close == std::string_view::npos) return std::nullopt;
            t.host = std::string(s.substr(1, close - 1));
            s.remove_prefix(close + 1);
            if (!s.empty() && s.front() != ':') return std::nullopt;
            if (!s.empty()) port = s.substr(1);
        } else {
            auto colon = s.find(':');
            t.host = std::string(s.substr(0, colon));
            if (colon != std::string_view::npos) port = s.substr(colon + 1);
        }
        if (t.host.empty()) return std::nullopt;
        if (!port.empty() || s.ends_with(':')) {
            unsigned v = 0;
            auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
            if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || v == 0 || v > 65535)
                return std::nullopt;
            t.port = static_cast<std::uint16_t>(v);
            t.port_given = true;
        }
        return t;
    }

    /// `setups: {NAME: {hosts: {HOST: {sysctl: {...}, irq_affinity: {...}, run: [...], undo: [...]}}}}`.
    /// Host names are checked once the whole file is read (setup_hosts_defined).
    void setups(source_loc kl, const YAML::Node& v) {
        if (!map("setups", kl, v)) return;
        entries(v, [&](const std::string& name, source_loc nl, const YAML::Node& sv) {
            setup_def def{name, nl, {}};
            if (!is_word(name))
                d_.error(nl, fmt::format("setup name '{}': expected letters, digits, '_', '-' or '.'", name));
            if (!sv.IsNull() && map(fmt::format("setup '{}'", name), nl, sv))
                entries(sv, [&](const std::string& key, source_loc k, const YAML::Node& hv) {
                    if (key != "hosts") return unknown(key, k, setup_keys);
                    if (!map(fmt::format("setup '{}': hosts", name), k, hv)) return;
                    entries(hv, [&](const std::string& h, source_loc hl, const YAML::Node& body) {
                        setup_host sh{h, hl, {}, {}, {}, {}};
                        if (!body.IsNull() && map(fmt::format("setup '{}': host '{}'", name, h), hl, body))
                            setup_host_body(body, sh);
                        def.hosts.push_back(std::move(sh));
                    });
                });
            p_.setups.push_back(std::move(def));
        });
    }

    void setup_host_body(const YAML::Node& m, setup_host& sh) {
        entries(m, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            if (key == "password") return d_.error(k, std::string(no_passwords));
            if (std::find(std::begin(setup_host_keys), std::end(setup_host_keys), key) ==
                std::end(setup_host_keys))
                return unknown(key, k, setup_host_keys);
            if (key == "run" || key == "undo") {
                auto& out = key == "run" ? sh.run : sh.undo;
                auto one = [&](const YAML::Node& c) {
                    if (c.IsScalar() && !c.Scalar().empty())
                        out.push_back(c.Scalar());
                    else
                        d_.error(loc_or(c, k),
                                 fmt::format("{}: expected a command (a non-empty string), got {}", key,
                                             c.IsScalar() ? std::string("''") : kind_of(c)));
                };
                if (x.IsSequence())
                    for (std::size_t i = 0; i < x.size(); ++i)
                        one(x[i]);
                else
                    one(x);
                return;
            }
            if (!map(key, k, x)) return;
            entries(x, [&](const std::string& name, source_loc nk, const YAML::Node& val) {
                auto text = scalar(fmt::format("{}.{}", key, name), nk, val);
                if (!text) return;
                if (key == "sysctl") {
                    // A name as sysctl(8) writes it (net.core.busy_poll) or as a path under
                    // /proc/sys (net/ipv4/conf/eth0.100/rp_filter); nothing that leaves /proc/sys.
                    bool ok = !name.empty() && name.front() != '.' && name.front() != '/' &&
                              name.find("..") == std::string::npos &&
                              std::all_of(name.begin(), name.end(), [](char c) {
                                  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                                         c == '-' || c == '.' || c == '/';
                              });
                    if (!ok)
                        return d_.error(nk, fmt::format("sysctl: expected a name such as net.core.busy_poll, "
                                                        "got '{}'",
                                                        name));
                    if (text->empty() || text->find('\n') != std::string::npos)
                        return d_.error(loc_or(val, nk),
                                        fmt::format("sysctl.{}: expected a value on one line", name));
                    sh.sysctl.emplace_back(name, *text);
                } else {
                    if (!is_word(name))
                        return d_.error(
                            nk, fmt::format("irq_affinity: expected an interface name, got '{}'", name));
                    auto cpus = engine::parse_cpu_list(*text);
                    if (!cpus || cpus->empty())
                        return d_.error(loc_or(val, nk),
                                        fmt::format("irq_affinity.{}: expected a CPU list such as 0-3,8, got "
                                                    "'{}'",
                                                    name, *text));
                    sh.irq_affinity.emplace_back(name, *text);
                }
            });
        });
    }

    /// Every host a setup names must be a plan host.
    void setup_hosts_defined() {
        std::vector<std::string_view> names;
        for (const auto& h : p_.hosts)
            names.push_back(h.name);
        for (const auto& def : p_.setups)
            for (const auto& sh : def.hosts) {
                if (p_.find_host(sh.host)) continue;
                auto hint = did_you_mean(sh.host, names);
                d_.error(sh.loc, hint.empty() ? fmt::format("setup '{}': undefined host '{}' (hosts are: {})",
                                                            def.name, sh.host, fmt::join(names, ", "))
                                              : fmt::format("setup '{}': undefined host '{}'{}", def.name,
                                                            sh.host, hint));
            }
    }

    void settings(source_loc kl, const YAML::Node& v) {
        if (!map("settings", kl, v)) return;
        entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            if (key == "password") return d_.error(k, std::string(no_passwords));
            if (std::find(std::begin(settings_keys), std::end(settings_keys), key) == std::end(settings_keys))
                return unknown(key, k, settings_keys);
            auto s = scalar(key, k, x);
            if (!s) return;
            if (key == "known_hosts") {
                p_.settings.known_hosts = *s;
            } else if (key == "ssh_config") {
                if (s->empty())
                    d_.error(loc_or(x, k), "ssh_config: expected a file name (or none), got nothing");
                else
                    p_.settings.ssh_config = *s;
            } else if (key == "connect_timeout") {
                auto d = parse_duration(*s);
                if (d && d->count() > 0)
                    p_.settings.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*d);
                else
                    d_.error(loc_or(x, k),
                             fmt::format("connect_timeout: {}", d ? "must be positive" : d.error()));
            } else {
                auto e = parse_param(param::on_error, *s);
                if (e)
                    p_.settings.when_failed = std::get<on_error>(*e);
                else
                    d_.error(loc_or(x, k), "on_error: " + e.error());
            }
        });
    }

    void scenario_list(source_loc kl, const YAML::Node& v) {
        if (!v.IsSequence()) {
            d_.error(loc_or(v, kl), "scenarios: expected a list of scenarios, got " + kind_of(v));
            return;
        }
        if (v.size() == 0) d_.error(loc_or(v, kl), "scenarios: expected at least one scenario");
        for (const auto& item : v) {
            scenario sc;
            sc.loc = loc_or(item, kl);
            bool ok = false;
            if (!item.IsMap())
                d_.error(sc.loc,
                         "expected a scenario (a mapping with name and traffic), got " + kind_of(item));
            else
                ok = scenario_body(item, sc, false);
            if (ok && sc.name.empty()) {
                d_.error(sc.loc, "scenario has no 'name'");
                ok = false;
            }
            for (const auto& other : p_.scenarios)
                if (!sc.name.empty() && other.name == sc.name)
                    d_.error(sc.loc, fmt::format("duplicate scenario name '{}' (first at line {})", sc.name,
                                                 other.loc.line));
            if (!ok) bad_scenarios.push_back(p_.scenarios.size());
            p_.scenarios.push_back(std::move(sc));
        }
    }

    /// Returns false when traffic, client or server had errors: expanding it would only add
    /// follow-on errors ("no traffic"). Other errors do not stop expansion, so they are all seen.
    bool scenario_body(const YAML::Node& m, scenario& sc, bool defaults) {
        core_failed_ = false;
        std::vector<std::string_view> known(param_names().begin(), param_names().end());
        for (auto k : structured_keys)
            if (!defaults || (k != "name" && k != "matrix" && k != "search")) known.push_back(k);
        entries(m, [&](const std::string& key, source_loc kl, const YAML::Node& v) {
            if (defaults &&
                (key == "name" || key == "matrix" || key == "search" || key == "compare_idle" ||
                 std::find(std::begin(group_keys), std::end(group_keys), key) != std::end(group_keys)))
                return d_.error(kl, fmt::format("'{}' is not allowed in defaults", key));
            if (in_member_)
                for (const auto& [k, why] : group_only_keys)
                    if (key == k)
                        return d_.error(kl,
                                        fmt::format("'{}' is not allowed in a group member: {}", key, why));
            if (key == "name") {
                auto s = scalar(key, kl, v);
                if (s && is_word(*s))
                    sc.name = *s;
                else if (s)
                    d_.error(loc_or(v, kl),
                             fmt::format("name: expected letters, digits, '_', '-' or '.', got '{}'", *s));
            } else if (key == "matrix") {
                matrix(kl, v, sc);
            } else if (key == "placement") {
                placement(kl, v, sc);
            } else if (key == "until") {
                until(kl, v, sc);
            } else if (key == "expect") {
                expect(kl, v, sc);
            } else if (key == "gate") {
                gate(kl, v, sc);
            } else if (key == "search") {
                search(kl, v, sc);
            } else if (key == "via") {
                via(kl, v, sc);
            } else if (key == "compare_direct" || key == "compare_idle") {
                auto s = scalar(key, kl, v);
                if (s && (*s == "true" || *s == "false"))
                    (key == "compare_direct" ? sc.compare_direct : sc.compare_idle) =
                        located<bool>{*s == "true", loc_or(v, kl)};
                else if (s)
                    d_.error(loc_or(v, kl), fmt::format("{}: expected true or false, got '{}'", key, *s));
            } else if (std::find(std::begin(group_keys), std::end(group_keys), key) != std::end(group_keys)) {
                group_form(key, kl, v, sc);
            } else if (auto p = param_from_name(key)) {
                if (auto s = value(*p, kl, v)) sc.settings.push_back(std::move(*s));
            } else {
                unknown(key, kl, known);
            }
        });
        for (const auto& axis : sc.matrix)
            if (axis.member.empty() && sc.find(axis.key))
                d_.error(axis.loc, fmt::format("'{}' is set both in the scenario and in its matrix",
                                               info(axis.key).name));
        for (const auto& e : sc.include)
            for (const auto& v : e.values)
                if (sc.find(v.key))
                    d_.error(v.loc, fmt::format("'{}' is set both in the scenario and in its matrix include",
                                                info(v.key).name));
        for (const auto& e : sc.exclude)
            for (const auto& v : e.values)
                if (std::none_of(sc.matrix.begin(), sc.matrix.end(),
                                 [&](const matrix_axis& a) { return a.key == v.key && a.member.empty(); })) {
                    std::vector<std::string_view> axes;
                    for (const auto& a : sc.matrix)
                        axes.push_back(info(a.key).name);
                    auto hint = did_you_mean(info(v.key).name, axes);
                    d_.error(v.loc, fmt::format("matrix exclude: '{}' is not an axis of this matrix{}",
                                                info(v.key).name,
                                                hint.empty()
                                                    ? (axes.empty() ? std::string(" (it has none)")
                                                                    : fmt::format(" (axes: {})", join(axes)))
                                                    : hint));
                }
        if (sc.search) search_conflicts(sc);
        if (!defaults) group_checks(sc);
        return !core_failed_;
    }

    /// `group:`, `clients:`, `mesh:` or `pairs:`: the members of a group scenario.
    void group_form(const std::string& key, source_loc kl, const YAML::Node& v, scenario& sc) {
        if (in_member_)
            return d_.error(kl,
                            fmt::format("'{}' is not allowed in a group member: groups do not nest", key));
        if (group_key_) {
            return d_.error(kl, fmt::format("a scenario has one of group, clients, mesh or pairs; this one "
                                            "already has '{}' (line {})",
                                            *group_key_, group_loc_.line));
        }
        group_key_ = key;
        group_loc_ = kl;
        if (!v.IsSequence() || v.size() == 0)
            return d_.error(loc_or(v, kl),
                            fmt::format("{}: expected a non-empty list{}, got {}", key,
                                        key == "group" ? " of members such as {name: up, traffic: tcp_stream}"
                                        : key == "pairs" ? " of [client, server] pairs"
                                                         : " of hosts",
                                        v.IsSequence() ? "[]" : kind_of(v)));
        auto host_setting = [&](param p, const std::string& name, source_loc at) {
            return setting{p, name, name, at};
        };
        auto member = [&](std::string name, source_loc at, std::string client, std::string server) {
            scenario m;
            m.name = std::move(name);
            m.loc = at;
            if (!client.empty()) m.settings.push_back(host_setting(param::client, client, at));
            if (!server.empty()) m.settings.push_back(host_setting(param::server, server, at));
            sc.members.push_back(std::move(m));
        };
        if (key == "group") {
            for (const auto& item : v) {
                scenario m;
                m.loc = loc_or(item, kl);
                if (!item.IsMap()) {
                    d_.error(m.loc, "group: expected a member (a mapping with name and traffic), got " +
                                        kind_of(item));
                    continue;
                }
                bool outer_failed = core_failed_;
                in_member_ = true;
                bool ok = scenario_body(item, m, false);
                in_member_ = false;
                core_failed_ = outer_failed || !ok;
                if (m.name.empty()) {
                    d_.error(m.loc, "group member has no 'name'");
                    core_failed_ = true;
                    continue;
                }
                sc.members.push_back(std::move(m));
            }
        } else if (key == "clients") {
            for (const auto& item : v)
                if (auto h = scalar("clients", loc_or(item, kl), item)) member(*h, loc_or(item, kl), *h, "");
        } else if (key == "mesh") {
            std::vector<std::pair<std::string, source_loc>> hosts;
            for (const auto& item : v)
                if (auto h = scalar("mesh", loc_or(item, kl), item)) hosts.emplace_back(*h, loc_or(item, kl));
            if (hosts.size() < 2)
                return d_.error(loc_or(v, kl), "mesh: expected at least two hosts (every ordered pair runs)");
            for (const auto& [a, at] : hosts)
                for (const auto& [b, bt] : hosts)
                    if (a != b) member(a + "-" + b, at, a, b);
        } else { // pairs
            for (const auto& item : v) {
                if (!item.IsSequence() || item.size() != 2) {
                    d_.error(loc_or(item, kl),
                             "pairs: expected [client, server], got " +
                                 (item.IsSequence() ? fmt::format("{} values", item.size()) : kind_of(item)));
                    continue;
                }
                auto c = scalar("pairs", loc_or(item[0], kl), item[0]);
                auto sv = scalar("pairs", loc_or(item[1], kl), item[1]);
                if (c && sv) member(*c + "-" + *sv, loc_or(item, kl), *c, *sv);
            }
        }
    }

    /// What only a group may have, what a member may not, and names that must resolve.
    void group_checks(scenario& sc) {
        if (in_member_) return;
        group_key_.reset();
        if (!sc.is_group()) {
            if (sc.compare_idle)
                d_.error(sc.compare_idle->loc, "compare_idle needs a group (latency members to run alone)");
            for (const auto& axis : sc.matrix)
                if (!axis.member.empty())
                    d_.error(axis.loc,
                             fmt::format("matrix '{}.{}': only a group's matrix may address a member",
                                         axis.member, info(axis.key).name));
            for (const auto& e : sc.expect)
                if (!e.member.empty())
                    d_.error(e.loc, fmt::format("expect '{}.{}': only a group's expect may name a member",
                                                e.member, e.metric));
            return;
        }
        if (sc.search)
            d_.error(sc.search->loc,
                     "'search' cannot be used in a group: a search runs its probes one at a time, alone");
        if (sc.via)
            d_.error(sc.via->loc, "'via' cannot be used in a group: a proxy chain is not supported there");
        if (sc.compare_direct) d_.error(sc.compare_direct->loc, "'compare_direct' cannot be used in a group");
        std::vector<std::string_view> names;
        for (std::size_t i = 0; i < sc.members.size(); ++i) {
            const auto& m = sc.members[i];
            for (std::size_t j = 0; j < i; ++j)
                if (sc.members[j].name == m.name)
                    d_.error(m.loc,
                             fmt::format("member name '{}' is used twice in group '{}' (first at line {})",
                                         m.name, sc.name, sc.members[j].loc.line));
            names.push_back(m.name);
        }
        auto check_member = [&](const std::string& name, source_loc at, std::string_view what) {
            if (std::find(names.begin(), names.end(), name) != names.end()) return;
            auto hint = did_you_mean(name, names);
            d_.error(
                at, fmt::format("{}: group '{}' has no member '{}'{}", what, sc.name, name,
                                hint.empty() ? fmt::format(" (members: {})", fmt::join(names, ", ")) : hint));
        };
        for (const auto& axis : sc.matrix)
            if (!axis.member.empty()) {
                check_member(axis.member, axis.loc, "matrix");
                for (const auto& m : sc.members)
                    if (m.name == axis.member && m.find(axis.key))
                        d_.error(axis.loc, fmt::format("'{}' is set both in member '{}' and in the matrix",
                                                       info(axis.key).name, m.name));
            } else {
                for (const auto& m : sc.members)
                    if (const setting* s = m.find(axis.key))
                        d_.error(s->loc,
                                 fmt::format("'{}' is set in member '{}' and varied for every member by "
                                             "the group's matrix; write the axis as '{}.{}' instead",
                                             info(axis.key).name, m.name, m.name, info(axis.key).name));
            }
        for (const auto& e : sc.expect)
            if (!e.member.empty()) check_member(e.member, e.loc, "expect");
    }

    /// One parameter value; nullopt after reporting an error.
    std::optional<setting> value(param p, source_loc kl, const YAML::Node& v) {
        auto s = checked_value(p, kl, v);
        if (!s && (p == param::traffic || p == param::client || p == param::server)) core_failed_ = true;
        return s;
    }

    std::optional<setting> checked_value(param p, source_loc kl, const YAML::Node& v) {
        const auto name = info(p).name;
        setting s{p, {}, {}, loc_or(v, kl)};
        if (p == param::tls && v.IsMap()) return tls_map(kl, v);
        if (v.IsNull()) {
            d_.error(kl, fmt::format("{}: expected a value", name));
            return std::nullopt;
        }
        auto text = scalar(name, kl, v);
        if (!text) return std::nullopt;
        auto parsed = parse_param(p, *text);
        if (!parsed) {
            d_.error(s.loc, fmt::format("{}: {}", name, parsed.error()));
            return std::nullopt;
        }
        if ((p == param::duration || p == param::timeout) &&
            std::get<std::chrono::nanoseconds>(*parsed).count() <= 0) {
            d_.error(s.loc, fmt::format("{}: must be positive, got '{}'", name, *text));
            return std::nullopt;
        }
        s.value = std::move(*parsed);
        s.text = *text;
        return s;
    }

    std::optional<setting> tls_map(source_loc kl, const YAML::Node& v) {
        setting s{param::tls, tls_setting{}, {}, loc_or(v, kl)};
        auto& t = std::get<tls_setting>(s.value);
        bool ok = true, mode = false, tx_rx = false;
        entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            if (std::find(std::begin(tls_keys), std::end(tls_keys), key) == std::end(tls_keys)) {
                ok = false;
                return unknown(key, k, tls_keys);
            }
            auto val = scalar(fmt::format("tls.{}", key), k, x);
            if (!val) {
                ok = false;
                return;
            }
            auto parsed = parse_param(key == "mode" ? param::tls : param::verify, *val);
            if (!parsed) {
                ok = false;
                return d_.error(loc_or(x, k), fmt::format("tls.{}: {}", key, parsed.error()));
            }
            if (key == "mode") {
                mode = true;
                t.mode = std::get<tls_setting>(*parsed).mode;
            } else {
                tx_rx = true;
                (key == "tx" ? t.tx : t.rx) = std::get<bool>(*parsed);
            }
        });
        if (!mode && ok) {
            d_.error(s.loc, "tls: expected 'mode' (none, openssl, ktls or auto)");
            ok = false;
        }
        if (ok && tx_rx && t.mode != engine::tls_mode::ktls) {
            d_.error(s.loc, "tls: 'tx' and 'rx' apply to mode ktls only");
            ok = false;
        }
        if (!ok) return std::nullopt;
        s.text = format_param(param::tls, s.value);
        return s;
    }

    /// `include:` / `exclude:` of a matrix: a list of mappings, parameter -> one value each.
    void matrix_entries(const std::string& what, source_loc k, const YAML::Node& list,
                        std::vector<matrix_entry>& out) {
        if (!list.IsSequence() || list.size() == 0)
            return d_.error(loc_or(list, k),
                            fmt::format("matrix {}: expected a list of mappings such as [{{request_size: 64, "
                                        "response_size: 64}}], got {}",
                                        what, list.IsSequence() ? "[]" : kind_of(list)));
        for (const auto& item : list) {
            matrix_entry e{loc_or(item, k), {}};
            if (!item.IsMap() || item.size() == 0) {
                d_.error(e.loc, fmt::format("matrix {}: expected a mapping of parameters to values, got {}",
                                            what, item.IsMap() ? "{}" : kind_of(item)));
                continue;
            }
            bool ok = true;
            entries(item, [&](const std::string& key, source_loc kk, const YAML::Node& x) {
                auto p = param_from_name(key);
                if (!p) {
                    ok = false;
                    return unknown(key, kk, param_names());
                }
                if (auto s = value(*p, kk, x))
                    e.values.push_back(std::move(*s));
                else
                    ok = false;
            });
            if (ok) out.push_back(std::move(e));
        }
    }

    void matrix(source_loc kl, const YAML::Node& v, scenario& sc) {
        if (!map("matrix", kl, v)) return;
        entries(v, [&](const std::string& written, source_loc k, const YAML::Node& values) {
            if (written == "include" || written == "exclude")
                return matrix_entries(written, k, values, written == "include" ? sc.include : sc.exclude);
            // `up.flows`: a group's axis for member "up" (checked in group_checks).
            std::string member, key = written;
            if (auto dot = member_dot(written)) {
                member = written.substr(0, *dot);
                key = written.substr(*dot + 1);
            }
            auto p = param_from_name(key);
            if (!p) {
                if (std::find(std::begin(structured_keys), std::end(structured_keys), key) !=
                    std::end(structured_keys))
                    return d_.error(
                        k,
                        fmt::format("'{}' cannot vary in a matrix; only single-valued parameters can", key));
                return unknown(key, k, param_names());
            }
            if (!values.IsSequence() || values.size() == 0) {
                if (*p == param::traffic || *p == param::client || *p == param::server) core_failed_ = true;
                return d_.error(
                    loc_or(values, k),
                    fmt::format("matrix '{}': expected a non-empty list of values such as [1, 8]", key));
            }
            if (!member.empty() && *p == param::setup)
                return d_.error(k, fmt::format("matrix '{}': a group's setup applies to every host of its "
                                               "members; write 'setup'",
                                               written));
            if (!member.empty() && (*p == param::duration || *p == param::warmup || *p == param::repeat))
                return d_.error(k, fmt::format("matrix '{}': {} applies to the group as a whole, not to one "
                                               "member; write '{}'",
                                               written, key, key));
            matrix_axis axis{*p, k, {}, member};
            for (const auto& item : values) {
                auto s = value(*p, k, item);
                if (!s) continue;
                auto printed = format_param(*p, s->value);
                if (std::any_of(axis.values.begin(), axis.values.end(),
                                [&](const setting& o) { return format_param(*p, o.value) == printed; })) {
                    d_.error(s->loc,
                             fmt::format("matrix '{}': value '{}' is listed twice", written, s->text));
                    continue;
                }
                axis.values.push_back(std::move(*s));
            }
            if (axis.values.size() == values.size()) sc.matrix.push_back(std::move(axis));
        });
    }

    void placement(source_loc kl, const YAML::Node& v, scenario& sc) {
        placement_spec spec;
        spec.loc = loc_or(v, kl);
        auto rule = [&](std::string_view what, source_loc k,
                        const YAML::Node& x) -> std::optional<located<engine::placement_rule>> {
            auto s = scalar(what, k, x);
            if (!s) return std::nullopt;
            auto r = engine::parse_placement(*s);
            if (!r) {
                d_.error(loc_or(x, k),
                         fmt::format("{}: expected any, rx, rx+N, rx-N or a CPU list such as 0-3,8, got '{}'",
                                     what, *s));
                return std::nullopt;
            }
            return located<engine::placement_rule>{*r, loc_or(x, k)};
        };
        if (v.IsScalar()) { // one rule for both sides
            spec.client = spec.server = rule("placement", kl, v);
        } else if (map("placement", kl, v)) {
            entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
                if (key == "client")
                    spec.client = rule("placement.client", k, x);
                else if (key == "server")
                    spec.server = rule("placement.server", k, x);
                else if (key == "via")
                    spec.via = rule("placement.via", k, x);
                else if (key == "distinct_rx") {
                    auto s = scalar("placement.distinct_rx", k, x);
                    if (s && (*s == "true" || *s == "false"))
                        spec.distinct_rx = located<bool>{*s == "true", loc_or(x, k)};
                    else if (s)
                        d_.error(loc_or(x, k),
                                 fmt::format("placement.distinct_rx: expected true or false, got '{}'", *s));
                } else {
                    unknown(key, k, placement_keys);
                }
            });
        }
        sc.placement = spec;
    }

    /// `via: [p]` or `via: p`: the proxy hosts in order from the client; checked in expansion.
    void via(source_loc kl, const YAML::Node& v, scenario& sc) {
        located<std::vector<located<std::string>>> out{{}, loc_or(v, kl)};
        auto one = [&](const YAML::Node& x) {
            if (auto s = scalar("via", loc_or(x, kl), x)) out.value.push_back({*s, loc_or(x, kl)});
        };
        if (v.IsSequence()) {
            for (std::size_t i = 0; i < v.size(); ++i)
                one(v[i]);
            if (v.size() == 0) return d_.error(out.loc, "via: expected a list of hosts such as [p], got []");
        } else if (v.IsScalar()) {
            one(v);
        } else {
            return d_.error(out.loc, "via: expected a list of hosts such as [p], got " + kind_of(v));
        }
        sc.via = std::move(out);
    }

    void until(source_loc kl, const YAML::Node& v, scenario& sc) {
        if (!map("until", kl, v)) return;
        located<until_rule> lu;
        lu.loc = loc_or(v, kl);
        auto& u = lu.value;
        bool width = false;
        entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            if (std::find(std::begin(until_keys), std::end(until_keys), key) == std::end(until_keys))
                return unknown(key, k, until_keys);
            auto s = scalar(key, k, x);
            if (!s) return;
            if (key == "ci_width") {
                width = true;
                auto w = parse_percent(*s);
                if (w && *w > 0 && *w <= 1)
                    u.ci_width = *w;
                else
                    d_.error(loc_or(x, k),
                             w ? fmt::format(
                                     "until.ci_width: expected more than 0% and at most 100%, got '{}'", *s)
                               : "until.ci_width: " + w.error());
            } else {
                auto n = parse_count(*s, 1000);
                if (n && *n >= 2)
                    u.max_repeat = *n;
                else
                    d_.error(loc_or(x, k),
                             fmt::format("until.max_repeat: expected a whole number from 2 to 1000, got '{}'",
                                         *s));
            }
        });
        if (!width) d_.error(lu.loc, "until: expected 'ci_width', e.g. {ci_width: 2%, max_repeat: 20}");
        sc.until = lu;
    }

    void expect(source_loc kl, const YAML::Node& v, scenario& sc) {
        if (!map("expect", kl, v)) return;
        entries(v, [&](const std::string& written, source_loc k, const YAML::Node& x) {
            auto s = scalar(written, k, x);
            if (!s) return;
            // `probe.latency_p99`: a group's check on member "probe" (checked in group_checks).
            std::string member, key = written;
            if (auto dot = member_dot(written)) {
                member = written.substr(0, *dot);
                key = written.substr(*dot + 1);
            }
            auto e = parse_expectation(key, *s);
            // An unknown metric is the key's fault; a bad bound is the value's.
            if (!e) return d_.error(is_metric_name(key) ? loc_or(x, k) : k, e.error());
            e->loc = k;
            e->member = std::move(member);
            sc.expect.push_back(std::move(*e));
        });
    }

    /// `gate: {throughput_bps: 5%, latency_p99: off}`: compare's tolerances for this scenario.
    void gate(source_loc kl, const YAML::Node& v, scenario& sc) {
        if (!map("gate", kl, v)) return;
        entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            auto s = scalar("gate." + key, k, x);
            if (!s) return;
            auto g = parse_gate(key, *s);
            // An unknown metric is the key's fault; a bad tolerance is the value's.
            if (!g) return d_.error(is_metric_name(key) ? loc_or(x, k) : k, "gate: " + g.error());
            g->loc = k;
            std::erase_if(sc.gate, [&](const gate_entry& e) { return e.which == g->which; });
            sc.gate.push_back(std::move(*g));
        });
    }

    /// `search: {rate: [low, high], slo: {...}, precision: 5%, max_probes: 24, probe_duration: 2s}`.
    void search(source_loc kl, const YAML::Node& v, scenario& sc) {
        if (!map("search", kl, v)) return;
        search_rule s;
        s.loc = loc_or(v, kl);
        bool range = false;
        entries(v, [&](const std::string& key, source_loc k, const YAML::Node& x) {
            if (std::find(std::begin(search_keys), std::end(search_keys), key) == std::end(search_keys))
                return unknown(key, k, search_keys);
            if (key == "rate") {
                range = true;
                return search_range(k, x, s);
            }
            if (key == "slo") {
                if (!map("search.slo", k, x)) return;
                return entries(x, [&](const std::string& metric, source_loc mk, const YAML::Node& bound) {
                    auto text = scalar("search.slo." + metric, mk, bound);
                    if (!text) return;
                    // `loss` is what RFC 2544 users write; the metric is loss_ratio.
                    const std::string name = metric == "loss" ? "loss_ratio" : metric;
                    auto e = parse_expectation(name, *text);
                    if (!e)
                        return d_.error(is_metric_name(name) ? loc_or(bound, mk) : mk,
                                        "search.slo: " + e.error());
                    e->loc = mk;
                    s.slo.push_back(std::move(*e));
                });
            }
            auto text = scalar("search." + key, k, x);
            if (!text) return;
            auto at = loc_or(x, k);
            if (key == "precision") {
                auto pc = parse_percent(*text);
                if (pc && *pc > 0 && *pc <= 1)
                    s.precision = *pc;
                else
                    d_.error(
                        at,
                        pc ? fmt::format("search.precision: expected more than 0% and at most 100%, got '{}'",
                                         *text)
                           : "search.precision: " + pc.error());
            } else if (key == "max_probes") {
                auto n = parse_count(*text, search_max_probes);
                if (n && *n >= 1)
                    s.max_probes = static_cast<std::uint32_t>(*n);
                else
                    d_.error(at,
                             fmt::format("search.max_probes: expected a whole number from 1 to {}, got '{}'",
                                         search_max_probes, *text));
            } else {
                auto d = parse_duration(*text);
                if (d && d->count() > 0)
                    (key == "max_time" ? s.max_time : s.probe_duration) = *d;
                else
                    d_.error(at, fmt::format("search.{}: {}", key,
                                             d ? "must be positive, got '" + *text + "'" : d.error()));
            }
        });
        if (!range)
            d_.error(s.loc, "search: expected 'rate: [low, high]', e.g. {rate: [1k/s, 2M/s], slo: "
                            "{latency_p99: \"< 1ms\"}}");
        sc.search = std::move(s);
    }

    void search_range(source_loc k, const YAML::Node& x, search_rule& s) {
        if (!x.IsSequence() || x.size() != 2)
            return d_.error(loc_or(x, k),
                            fmt::format("search.rate: expected [low, high] such as [1k/s, 2M/s], got {}",
                                        x.IsSequence() ? fmt::format("{} values", x.size()) : kind_of(x)));
        rate* ends[] = {&s.low, &s.high};
        for (std::size_t i = 0; i < 2; ++i) {
            auto text = scalar("search.rate", k, x[i]);
            if (!text) continue;
            auto r = parse_rate(*text);
            if (!r)
                d_.error(loc_or(x[i], k), "search.rate: " + r.error());
            else if (r->how == rate::unit::unlimited || r->value <= 0)
                d_.error(
                    loc_or(x[i], k),
                    fmt::format("search.rate: expected a positive rate such as 1k/s or 100Mbit/s, got '{}'",
                                *text));
            else
                *ends[i] = *r;
        }
        if (s.low.how == s.high.how && s.low.how != rate::unit::unlimited && s.low.value > s.high.value)
            d_.error(loc_or(x, k), fmt::format("search.rate: the low end ({}) is above the high end ({})",
                                               format_rate(s.low), format_rate(s.high)));
    }

    /// What a search decides itself cannot also be written in its scenario.
    void search_conflicts(const scenario& sc) {
        if (const setting* r = sc.find(param::rate))
            d_.error(r->loc,
                     "'rate' and 'search' cannot be used together: the search sets each probe's rate");
        for (const auto& axis : sc.matrix)
            if (axis.key == param::rate || axis.key == param::repeat)
                d_.error(axis.loc,
                         fmt::format("matrix '{}' cannot be used with 'search': the search sets each "
                                     "probe's rate and runs it once",
                                     info(axis.key).name));
        if (const setting* r = sc.find(param::repeat))
            d_.error(r->loc, "'repeat' does not apply to a search: each probe runs once");
        if (sc.until) d_.error(sc.until->loc, "'until' does not apply to a search: each probe runs once");
    }

    plan& p_;
    diagnostics& d_;
    bool core_failed_ = false;
    bool in_member_ = false;               ///< parsing a `group:` member
    std::optional<std::string> group_key_; ///< the scenario's group, clients, mesh or pairs key
    source_loc group_loc_;
};

/// The plan's default name: the file name without directories and extension.
std::string stem(std::string_view file) {
    if (auto slash = file.rfind('/'); slash != std::string_view::npos) file.remove_prefix(slash + 1);
    if (auto dot = file.find('.'); dot != std::string_view::npos && dot > 0) file = file.substr(0, dot);
    std::string out(file);
    for (char& c : out)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
    return out.empty() ? "plan" : out;
}

load_failure failure(std::string_view file, std::string_view text, const diagnostics& d) {
    load_failure f{d.sorted(), d.dropped(), {}};
    f.text = format_diagnostics(file, text, f.diagnostics, f.dropped);
    return f;
}

} // namespace

const setting* scenario::find(param p) const {
    for (const auto& s : settings)
        if (s.key == p) return &s;
    return nullptr;
}

std::string ssh_address::str() const {
    std::string who = user.empty() ? "" : user + "@";
    std::string where = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    // A port not written may come from ssh_config: print what the plan says, not a guess.
    if (!port_given && user.empty()) return who + where;
    return fmt::format("{}{}:{}", who, where, port);
}

const setup_def* plan::find_setup(std::string_view n) const {
    for (const auto& s : setups)
        if (s.name == n) return &s;
    return nullptr;
}

const host* plan::find_host(std::string_view n) const {
    for (const auto& h : hosts)
        if (h.name == n) return &h;
    return nullptr;
}

std::string plan::diagnose(source_loc loc, std::string message) const {
    return format_diagnostic(file, source, {loc, std::move(message)});
}

namespace {

/// Counts the documents of a text by walking the parser's events without building nodes, and
/// gives up after `cap` events: yaml-cpp 0.7 emits events without end for some malformed
/// input (tests/runner/fuzz_plan found one that made YAML::LoadAll eat all memory).
class document_counter final : public YAML::EventHandler {
  public:
    struct too_many_events {
        YAML::Mark mark;
    };
    explicit document_counter(std::size_t cap) : cap_(cap) {}
    std::size_t documents = 0;
    YAML::Mark second; ///< where the second document starts, if there is one

    void OnDocumentStart(const YAML::Mark& m) override {
        if (++documents == 2) second = m;
    }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { step(m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { step(m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override {
        step(m);
    }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        step(m);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        step(m);
    }
    void OnMapEnd() override {}

  private:
    void step(const YAML::Mark& m) {
        if (++events_ > cap_) throw too_many_events{m};
    }
    std::size_t cap_;
    std::size_t events_ = 0;
};

} // namespace

std::expected<plan, load_failure> load_plan(std::string_view file, std::string_view text,
                                            const std::vector<std::string>& overrides) {
    diagnostics d;
    if (auto bad = prescan_plan_text(text)) {
        d.error(bad->loc, bad->message);
        return std::unexpected(failure(file, text, d));
    }
    std::vector<YAML::Node> docs;
    try {
        // Every scalar, sequence or mapping is one event and takes at least a byte of text.
        document_counter counter(text.size() + 16);
        std::istringstream in{std::string(text)};
        YAML::Parser parser(in);
        while (parser.HandleNextDocument(counter)) {
        }
        if (counter.documents > 1) {
            d.error({counter.second.line + 1, counter.second.column + 1},
                    "a plan is one YAML document; found a second one");
            return std::unexpected(failure(file, text, d));
        }
        if (counter.documents == 1) docs.push_back(YAML::Load(std::string(text)));
    } catch (const YAML::Exception& e) {
        source_loc at = e.mark.is_null() ? source_loc{} : source_loc{e.mark.line + 1, e.mark.column + 1};
        d.error(at, "YAML syntax error: " + e.msg);
        return std::unexpected(failure(file, text, d));
    } catch (const document_counter::too_many_events& e) {
        d.error({e.mark.line + 1, e.mark.column + 1},
                "YAML syntax error: the parser does not make progress here; check the brackets and quotes");
        return std::unexpected(failure(file, text, d));
    }
    if (docs.empty() || docs[0].IsNull()) {
        d.error({}, "empty plan: expected a mapping with 'version: 1', 'hosts' and 'scenarios'");
        return std::unexpected(failure(file, text, d));
    }
    plan p;
    p.file = std::string(file);
    p.source = std::string(text);
    p.name = stem(file);
    loader l(p, d);
    l.top(docs[0]);
    // `--set` items: their errors are the command line's, not the file's.
    std::string override_errors;
    for (const auto& item : overrides) {
        diagnostics od;
        loader(p, od).override_item(item);
        for (const auto& e : od.sorted())
            override_errors += fmt::format("--set {}: {}\n", item, e.message);
    }
    if (l.defaults_ok_) {
        // Expand only the scenarios that loaded cleanly: their errors would only repeat.
        plan clean = p;
        for (auto i = l.bad_scenarios.rbegin(); i != l.bad_scenarios.rend(); ++i)
            clean.scenarios.erase(clean.scenarios.begin() + static_cast<std::ptrdiff_t>(*i));
        (void)expand_checked(clean, d);
    }
    if (d.any() || !override_errors.empty()) {
        load_failure f = d.any() ? failure(file, text, d) : load_failure{};
        f.text = override_errors + f.text;
        if (!d.any()) f.diagnostics.push_back(diagnostic{{}, override_errors});
        return std::unexpected(std::move(f));
    }
    return p;
}

std::expected<plan, load_failure> load_plan_file(const std::string& path,
                                                 const std::vector<std::string>& overrides) {
    auto fail_with = [&](std::string message) {
        load_failure f{{diagnostic{{}, std::move(message)}}, 0, {}};
        f.text = format_diagnostics(path, "", f.diagnostics);
        return std::unexpected(std::move(f));
    };
    // Only a regular file is a plan: a FIFO, a directory or a device is refused before it is
    // opened (stat), and the open is non-blocking and checked again (fstat) so that a FIFO put
    // in place between the two can never block.
    auto not_regular = [](mode_t mode) -> std::string_view {
        if (S_ISDIR(mode)) return "is a directory";
        if (S_ISFIFO(mode)) return "is a FIFO";
        if (S_ISSOCK(mode)) return "is a socket";
        if (S_ISCHR(mode) || S_ISBLK(mode)) return "is a device";
        return "is not a regular file";
    };
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return fail_with(fmt::format("cannot read: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
        return fail_with(
            fmt::format("cannot read: {}; a plan must be a regular file", not_regular(st.st_mode)));
    // Refuse before reading: a 50 MB file is a mistake, not a plan.
    if (static_cast<std::uint64_t>(st.st_size) > max_plan_bytes)
        return fail_with(fmt::format("file is {} bytes; a plan may be at most {} bytes (1 MiB)",
                                     static_cast<std::uint64_t>(st.st_size), max_plan_bytes));
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return fail_with(fmt::format("cannot read: {}", std::strerror(errno)));
    struct closer {
        int fd;
        ~closer() { ::close(fd); }
    } close_fd{fd};
    if (::fstat(fd, &st) != 0) return fail_with(fmt::format("cannot read: {}", std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
        return fail_with(
            fmt::format("cannot read: {}; a plan must be a regular file", not_regular(st.st_mode)));
    std::string text;
    text.resize(max_plan_bytes + 1);
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_with(fmt::format("cannot read: {}", std::strerror(errno)));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return load_plan(path, text, overrides);
}

} // namespace kp::runner
