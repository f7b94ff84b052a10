#include "runner/plan/expand.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <stdexcept>

#include "engine/traffic/job_defaults.hpp"
#include "engine/traffic/traffic.hpp"
#include "runner/plan/metric.hpp"

namespace kp::runner {
namespace {

/// `over` laid over `base`: a metric set in both takes `over`'s setting.
std::vector<gate_entry> merged_gate(std::vector<gate_entry> base, const std::vector<gate_entry>& over) {
    for (const auto& g : over) {
        std::erase_if(base, [&](const gate_entry& b) { return b.which == g.which; });
        base.push_back(g);
    }
    return base;
}

using engine::traffic;

using engine::max_udp_payload;
constexpr traffic_mask searchable = traffic_where([](const engine::traffic_info& k) { return k.searchable; });
constexpr traffic_mask proxyable = traffic_where([](const engine::traffic_info& k) { return k.proxyable; });

bool row_stream(traffic kind) {
    return engine::info(kind).stream();
}

/// The value of every parameter before the plan says anything: the default job's, for the
/// parameters that are job fields.
param_value builtin_default(param p, traffic kind, const plan& pl) {
    const engine::job_spec d = engine::default_job(kind);
    switch (p) {
    case param::traffic:
        return kind;
    case param::client:
    case param::server:
        return pl.hosts.size() == 1 ? pl.hosts.front().name : std::string();
    case param::direction:
        return d.dir;
    case param::flows:
        return std::uint64_t{d.flows};
    case param::workers:
        return std::uint64_t{d.workers};
    case param::write_size:
        return std::uint64_t{d.write_size};
    case param::read_size:
        return std::uint64_t{d.read_size};
    case param::request_size:
        return std::uint64_t{d.request_size};
    case param::response_size:
        return std::uint64_t{d.response_size};
    case param::message_size:
        return std::uint64_t{row_stream(kind) ? d.write_size : d.request_size};
    case param::in_flight:
        return std::uint64_t{d.in_flight};
    case param::close:
        return d.close;
    case param::rate:
        return rate{};
    case param::arrival:
        return d.arrivals;
    case param::timeout:
        return d.timeout;
    case param::duration:
        return d.duration;
    case param::warmup:
        return d.warmup;
    case param::repeat:
        return std::uint64_t{1};
    case param::tls:
        return tls_setting{d.tls.mode, d.tls.ktls_tx, d.tls.ktls_rx};
    case param::tls_version:
        return d.tls.version;
    case param::cipher:
        return d.tls.cipher;
    case param::verify:
        return d.verify;
    case param::histograms:
        return d.histograms;
    case param::flow_detail:
        return d.flow_detail;
    case param::sndbuf:
        return static_cast<std::uint64_t>(d.sockopts.sndbuf);
    case param::rcvbuf:
        return static_cast<std::uint64_t>(d.sockopts.rcvbuf);
    case param::nodelay:
        return d.sockopts.nodelay;
    case param::congestion:
        return d.sockopts.congestion;
    case param::max_pacing_rate:
        return 8.0 * static_cast<double>(d.sockopts.max_pacing_rate); // bit/s; the job holds bytes/s
    case param::zerocopy:
        return d.sockopts.zerocopy;
    case param::on_error:
        return pl.settings.when_failed;
    case param::setup:
        return std::string(); // none: the hosts stay as they are
    }
    throw std::logic_error("builtin_default: unknown parameter");
}

/// Where each parameter's value came from for one instance.
struct resolved {
    std::array<const setting*, param_count> set{};
    std::array<bool, param_count> from_defaults{};
    [[nodiscard]] const setting* operator[](param p) const { return set[static_cast<std::size_t>(p)]; }
    void put(const setting& s, bool defaults) {
        set[static_cast<std::size_t>(s.key)] = &s;
        from_defaults[static_cast<std::size_t>(s.key)] = defaults;
    }
};

std::string host_list(const plan& p) {
    std::string out;
    for (const auto& h : p.hosts)
        out += (out.empty() ? "" : ", ") + h.name;
    return out;
}

class expander {
  public:
    expander(const plan& p, diagnostics& d) : p_(p), diags_(d) {}

    void scenario_instances(const scenario& sc, std::vector<instance>& out) {
        std::size_t points = 1;
        for (const auto& axis : sc.matrix)
            points *= axis.values.size();
        if (points + sc.include.size() + out.size() > max_instances) {
            diags_.error(sc.loc,
                         fmt::format("scenario '{}' expands to {} instances; a plan may have at most {}",
                                     sc.name, points, max_instances));
            return;
        }
        if (sc.is_group() && points * sc.members.size() > max_group_members * max_instances) {
            diags_.error(sc.loc, fmt::format("group '{}' expands to {} members over its matrix", sc.name,
                                             points * sc.members.size()));
            return;
        }
        if (sc.members.size() > max_group_members) {
            diags_.error(sc.loc, fmt::format("group '{}' has {} members; a group may have at most {}",
                                             sc.name, sc.members.size(), max_group_members));
            return;
        }
        resolved base;
        for (const auto& s : p_.defaults.settings)
            base.put(s, true);
        for (const auto& s : sc.settings)
            base.put(s, sc.is_group());    // a group's settings are its members' defaults
        for (const auto& s : p_.overrides) // `--set`: above the plan, applied where it can
            base.put(s, true);
        // A matrix with only `include:` runs only its entries.
        if (sc.matrix.empty() && !sc.include.empty()) points = 0;
        std::vector<bool> excluded_some(sc.exclude.size(), false);
        std::vector<std::size_t> index(sc.matrix.size(), 0);
        const std::size_t first = out.size();
        auto emit = [&](resolved& r, instance& in, const std::vector<const matrix_axis*>& member_axes,
                        const std::vector<const setting*>& member_values) {
            if (std::any_of(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
                            [&](const instance& o) { return o.id == in.id; })) {
                diags_.error(
                    in.loc,
                    fmt::format("matrix include: '{}' is already a combination of the matrix", in.id));
                return;
            }
            if (sc.is_group()) {
                if (group(sc, r, member_axes, member_values, in)) out.push_back(std::move(in));
            } else if (resolve(sc, r, in)) {
                out.push_back(std::move(in));
            }
        };
        for (std::size_t n = 0; n < points; ++n) {
            resolved r = base;
            instance in;
            in.scenario = sc.name;
            in.loc = sc.loc;
            in.id = sc.name;
            std::vector<const matrix_axis*> member_axes;
            std::vector<const setting*> member_values;
            for (std::size_t a = 0; a < sc.matrix.size(); ++a) {
                const setting& v = sc.matrix[a].values[index[a]];
                const std::string& member = sc.matrix[a].member;
                if (member.empty()) {
                    r.put(v, sc.is_group());
                } else {
                    member_axes.push_back(&sc.matrix[a]);
                    member_values.push_back(&v);
                }
                std::string key = member.empty() ? std::string(info(v.key).name)
                                                 : fmt::format("{}.{}", member, info(v.key).name);
                in.id += fmt::format("{}{}={}", a == 0 ? "/" : ",", key, v.text);
                in.matrix.emplace_back(std::move(key), v.text);
            }
            // `exclude:` drops the combinations holding all of an entry's values.
            bool dropped = false;
            for (std::size_t e = 0; e < sc.exclude.size(); ++e) {
                bool all = std::all_of(
                    sc.exclude[e].values.begin(), sc.exclude[e].values.end(), [&](const setting& x) {
                        for (std::size_t a = 0; a < sc.matrix.size(); ++a)
                            if (sc.matrix[a].member.empty() && sc.matrix[a].key == x.key)
                                return format_param(x.key, x.value) ==
                                       format_param(x.key, sc.matrix[a].values[index[a]].value);
                        return false;
                    });
                if (all) excluded_some[e] = dropped = true;
            }
            if (!dropped) emit(r, in, member_axes, member_values);
            // Odometer with the first key outermost, so ids come out in reading order.
            for (std::size_t a = sc.matrix.size(); a-- > 0;) {
                if (++index[a] < sc.matrix[a].values.size()) break;
                index[a] = 0;
            }
        }
        auto axis_of = [&](const setting& x) {
            return std::any_of(sc.matrix.begin(), sc.matrix.end(),
                               [&](const matrix_axis& a) { return a.member.empty() && a.key == x.key; });
        };
        for (std::size_t e = 0; e < sc.exclude.size(); ++e)
            // An entry naming something that is not an axis was refused by the loader already.
            if (!excluded_some[e] &&
                std::all_of(sc.exclude[e].values.begin(), sc.exclude[e].values.end(), axis_of))
                diags_.error(sc.exclude[e].loc,
                             "matrix exclude: this entry matches no combination of the matrix");
        // `include:` adds one instance per entry, its values tied together.
        for (const auto& entry : sc.include) {
            resolved r = base;
            instance in;
            in.scenario = sc.name;
            in.loc = entry.loc;
            in.id = sc.name;
            for (std::size_t i = 0; i < entry.values.size(); ++i) {
                const setting& v = entry.values[i];
                r.put(v, sc.is_group());
                in.id += fmt::format("{}{}={}", i == 0 ? "/" : ",", info(v.key).name, v.text);
                in.matrix.emplace_back(std::string(info(v.key).name), v.text);
            }
            emit(r, in, {}, {});
        }
    }

  private:
    /// One point of a group scenario: each member resolved on top of the group's settings
    /// (`r`, which apply where they can, as `defaults:` do), then its own, then the matrix axes
    /// that address it.
    bool group(const scenario& sc, const resolved& r, const std::vector<const matrix_axis*>& axes,
               const std::vector<const setting*>& values, instance& g) {
        bool ok = true;
        for (const auto& m : sc.members) {
            scenario ms = m;
            ms.name = sc.name + "/" + m.name;
            if (!ms.placement) ms.placement = sc.placement;
            resolved rm = r;
            for (const auto& s : m.settings)
                rm.put(s, false);
            for (std::size_t a = 0; a < axes.size(); ++a)
                if (axes[a]->member == m.name) rm.put(*values[a], false);
            for (const auto& s : p_.overrides) // above a member's own settings too
                rm.put(s, true);
            instance in;
            in.scenario = sc.name;
            in.member = m.name;
            in.loc = m.loc;
            in.id = g.id + "/" + m.name;
            in.matrix = g.matrix;
            in_member_ = true;
            bool good = resolve(ms, rm, in);
            in_member_ = false;
            if (!good) {
                ok = false;
                continue;
            }
            in.repeat = 1;
            in.until.reset();
            g.members.push_back(std::move(in));
        }
        if (!ok) return false;
        // The group's own settings must reach at least one member (a typo must not vanish).
        for (std::size_t i = 0; i < param_count; ++i) {
            const setting* s = r.set[i];
            if (!s || !r.from_defaults[i] || s->loc.line == 0) continue;
            bool group_level = std::any_of(sc.settings.begin(), sc.settings.end(),
                                           [&](const setting& x) { return &x == s; });
            for (const auto& axis : sc.matrix)
                for (const auto& v : axis.values)
                    group_level = group_level || &v == s;
            if (!group_level) continue;
            bool applies = std::any_of(g.members.begin(), g.members.end(), [&](const instance& m) {
                return (info(s->key).applies_to & mask_of(m.job.kind)) != 0;
            });
            if (!applies) {
                diags_.error(s->loc,
                             fmt::format("'{}' applies to no member of group '{}' (it applies to {})",
                                         info(s->key).name, sc.name, describe(info(s->key).applies_to)));
                ok = false;
            }
        }
        const instance& first = g.members.front();
        g.job = first.job;
        g.job.id = g.id;
        g.repeat = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::repeat, first.job.kind));
        g.when_failed = get<on_error>(r, param::on_error, first.job.kind);
        g.setup = first.setup; // set on the group only (a member may not), so the same in each
        if (const auto& u = sc.until ? sc.until : p_.defaults.until) {
            g.until = u->value;
            g.until->min_repeat = std::max<std::size_t>(2, g.repeat);
            if (u->value.max_repeat < g.repeat)
                diags_.error(u->loc, fmt::format("until: max_repeat ({}) is below repeat ({})",
                                                 u->value.max_repeat, g.repeat));
        }
        g.compare_idle = sc.compare_idle && sc.compare_idle->value;
        if (g.compare_idle && std::none_of(g.members.begin(), g.members.end(), [](const instance& m) {
                return !engine::info(m.job.kind).stream();
            }))
            diags_.error(
                sc.compare_idle->loc,
                fmt::format("compare_idle: group '{}' has no latency member (rr, crr or udp_rr) to run alone",
                            sc.name));
        g.gate = merged_gate(p_.defaults.gate, sc.gate);
        for (auto& m : g.members)
            m.gate = merged_gate(g.gate, m.gate);
        g.expect = p_.defaults.expect;
        for (const auto& e : sc.expect) {
            std::erase_if(g.expect,
                          [&](const expectation& d) { return d.metric == e.metric && d.member == e.member; });
            g.expect.push_back(e);
        }
        for (const auto& e : g.expect) {
            if (!e.member.empty()) {
                auto it = std::find_if(g.members.begin(), g.members.end(),
                                       [&](const instance& m) { return m.member == e.member; });
                if (it != g.members.end()) measured("expect", e, it->job.kind, sc);
                continue;
            }
            auto mt = metric_from_name(e.metric);
            if (!mt || group_measures(g, *mt)) continue;
            diags_.error(e.loc,
                         fmt::format("expect: group '{}' does not measure {}{}", sc.name, e.metric,
                                     info(*mt).is_latency ? " (its latency members are of different kinds, "
                                                            "or it has none; name one: 'MEMBER." +
                                                                e.metric + "')"
                                                          : "; name a member: 'MEMBER." + e.metric + "'"));
        }
        for (const auto& [k, v] : g.matrix)
            g.params.emplace_back(k, v);
        return ok;
    }

    template <class T> T get(const resolved& r, param p, traffic kind) const {
        if (const setting* s = r[p]) return std::get<T>(s->value);
        return std::get<T>(builtin_default(p, kind, p_));
    }

    const host* host_of(const resolved& r, param p, const scenario& sc) {
        const setting* s = r[p];
        std::string name =
            s ? std::get<std::string>(s->value) : std::get<std::string>(builtin_default(p, {}, p_));
        if (name.empty()) {
            diags_.error(sc.loc, fmt::format("scenario '{}' has no '{}' (expected one of the hosts: {})",
                                             sc.name, info(p).name, host_list(p_)));
            return nullptr;
        }
        if (const host* h = p_.find_host(name)) return h;
        std::vector<std::string_view> names;
        for (const auto& h : p_.hosts)
            names.push_back(h.name);
        auto hint = did_you_mean(name, names);
        diags_.error(s->loc, hint.empty()
                                 ? fmt::format("undefined host '{}' (hosts are: {})", name, host_list(p_))
                                 : fmt::format("undefined host '{}'{}", name, hint));
        return nullptr;
    }

    bool resolve(const scenario& sc, const resolved& r, instance& in) {
        const setting* t = r[param::traffic];
        if (!t) {
            diags_.error(sc.loc, fmt::format("scenario '{}' has no 'traffic' (expected {})", sc.name,
                                             describe(all_traffic)));
            return false;
        }
        const traffic kind = std::get<traffic>(t->value);
        const engine::traffic_info& row = engine::info(kind);
        bool ok = true;
        // Settings written in the scenario must apply; those from `defaults:` apply where they can.
        for (std::size_t i = 0; i < param_count; ++i) {
            const setting* s = r.set[i];
            if (!s || r.from_defaults[i] || (info(s->key).applies_to & mask_of(kind))) continue;
            diags_.error(s->loc,
                         fmt::format("'{}' does not apply to {} (it applies to {})", info(s->key).name,
                                     name_of(kind), describe(info(s->key).applies_to)));
            ok = false;
        }
        const host* client = host_of(r, param::client, sc);
        const host* server = host_of(r, param::server, sc);
        if (!client || !server || !ok) return false;
        in.client = client->name;
        in.server = server->name;

        auto& j = in.job;
        j.kind = kind;
        j.id = in.id;
        j.dir = get<engine::direction>(r, param::direction, kind);
        j.flows = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::flows, kind));
        j.workers = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::workers, kind));
        j.write_size = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::write_size, kind));
        j.read_size = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::read_size, kind));
        j.request_size = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::request_size, kind));
        j.response_size = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::response_size, kind));
        (void)message_size(r, kind, j);
        j.in_flight = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::in_flight, kind));
        j.close = get<engine::crr_close>(r, param::close, kind);
        j.arrivals = get<engine::arrival>(r, param::arrival, kind);
        j.timeout = get<std::chrono::nanoseconds>(r, param::timeout, kind);
        j.duration = get<std::chrono::nanoseconds>(r, param::duration, kind);
        j.warmup = get<std::chrono::nanoseconds>(r, param::warmup, kind);
        const auto tls = get<tls_setting>(r, param::tls, kind);
        if (row.udp()) {
            j.tls.mode = engine::tls_mode::none; // `tls:` from defaults does not reach UDP
        } else {
            j.tls.mode = tls.mode;
            j.tls.ktls_tx = tls.tx;
            j.tls.ktls_rx = tls.rx;
        }
        j.tls.version = get<engine::tls_version>(r, param::tls_version, kind);
        j.tls.cipher = get<engine::tls_cipher>(r, param::cipher, kind);
        j.verify = get<bool>(r, param::verify, kind);
        j.histograms = get<bool>(r, param::histograms, kind);
        j.flow_detail = get<bool>(r, param::flow_detail, kind);
        j.sockopts.sndbuf = static_cast<int>(get<std::uint64_t>(r, param::sndbuf, kind));
        j.sockopts.rcvbuf = static_cast<int>(get<std::uint64_t>(r, param::rcvbuf, kind));
        j.sockopts.nodelay = get<bool>(r, param::nodelay, kind);
        j.sockopts.congestion = get<std::string>(r, param::congestion, kind);
        j.sockopts.max_pacing_rate =
            static_cast<std::uint64_t>(get<double>(r, param::max_pacing_rate, kind) / 8);
        j.sockopts.zerocopy = get<bool>(r, param::zerocopy, kind);
        in.repeat = static_cast<std::uint32_t>(get<std::uint64_t>(r, param::repeat, kind));
        in.when_failed = get<on_error>(r, param::on_error, kind);
        in.setup = get<std::string>(r, param::setup, kind);
        if (const setting* s = r[param::setup]; s && !p_.find_setup(in.setup)) {
            std::vector<std::string_view> names;
            for (const auto& d : p_.setups)
                names.push_back(d.name);
            auto hint = did_you_mean(in.setup, names);
            diags_.error(s->loc, hint.empty()
                                     ? fmt::format("setup '{}' is not defined (setups: {})", in.setup,
                                                   names.empty() ? std::string("none")
                                                                 : fmt::format("{}", fmt::join(names, ", ")))
                                     : fmt::format("setup '{}' is not defined{}", in.setup, hint));
            ok = false;
        }

        if (row.udp()) {
            for (param p : {param::write_size, param::request_size, param::response_size}) {
                const setting* s = r[p];
                if (s && !r.from_defaults[static_cast<std::size_t>(p)] &&
                    std::get<std::uint64_t>(s->value) > max_udp_payload)
                    diags_.error(s->loc, fmt::format("{}: a UDP datagram carries at most {} bytes, got '{}'",
                                                     info(p).name, max_udp_payload, s->text));
            }
        }
        const auto rt = get<rate>(r, param::rate, kind);
        const std::uint32_t message = row.stream() ? j.write_size : j.request_size;
        j.rate = rt.how == rate::unit::bits_per_second ? rt.value / (8.0 * message) : rt.value;
        if (const setting* a = r[param::arrival];
            a && !r.from_defaults[static_cast<std::size_t>(param::arrival)] &&
            j.arrivals == engine::arrival::poisson && j.rate == 0 && !sc.search)
            diags_.error(a->loc, "arrival: poisson needs a rate; this scenario's rate is unlimited");

        if (sc.search) search(*sc.search, kind, message, in);
        placement(sc, in);
        via(sc, kind, in);
        if (const auto& u = sc.until ? sc.until : in_member_ ? std::nullopt : p_.defaults.until) {
            in.until = u->value;
            in.until->min_repeat = std::max<std::size_t>(2, in.repeat);
            if (u->value.max_repeat < in.repeat)
                diags_.error(u->loc, fmt::format("until: max_repeat ({}) is below repeat ({})",
                                                 u->value.max_repeat, in.repeat));
        }
        // A member's gate lies over its group's (merged in by the group), so it starts empty.
        in.gate = merged_gate(in_member_ ? std::vector<gate_entry>{} : p_.defaults.gate, sc.gate);
        in.expect = in_member_ ? std::vector<expectation>{} : p_.defaults.expect;
        for (const auto& e : sc.expect) {
            std::erase_if(in.expect, [&](const expectation& d) { return d.metric == e.metric; });
            in.expect.push_back(e);
        }
        for (const auto& e : in.expect)
            measured("expect", e, kind, sc);
        if (in.search)
            for (const auto& e : in.search->slo)
                measured("search.slo", e, kind, sc);
        for (std::size_t i = 0; i < param_count; ++i) {
            auto p = static_cast<param>(i);
            if (!(info(p).applies_to & mask_of(kind))) continue;
            if (p == param::message_size && !r[p]) continue; // the two sizes show what ran
            const setting* s = r.set[i];
            if (p == param::setup && !s) continue; // listed only when one is chosen
            std::string text = s ? (s->key == param::tls ? format_param(p, s->value) : s->text)
                                 : format_param(p, builtin_default(p, kind, p_));
            if (r[param::message_size] && (p == param::write_size || p == param::read_size ||
                                           p == param::request_size || p == param::response_size))
                text = format_param(p, std::uint64_t{p == param::write_size     ? j.write_size
                                                     : p == param::read_size    ? j.read_size
                                                     : p == param::request_size ? j.request_size
                                                                                : j.response_size});
            if (p == param::congestion && text.empty()) text = "default";
            if (p == param::max_pacing_rate && !s) text = "unlimited";
            if (p == param::rate && in.search) text = "search";
            in.params.emplace_back(std::string(info(p).name), std::move(text));
        }
        return ok;
    }

    /// `message_size`: both sizes of the exchange at once. A size written at a more specific
    /// level than message_size (the scenario over `defaults:`) keeps its own value; both written
    /// at one level is an error.
    bool message_size(const resolved& r, traffic kind, engine::job_spec& j) {
        const setting* ms = r[param::message_size];
        if (!ms) return true;
        const bool ms_default = r.from_defaults[static_cast<std::size_t>(param::message_size)];
        const bool stream = row_stream(kind);
        const auto value = static_cast<std::uint32_t>(std::get<std::uint64_t>(ms->value));
        bool ok = true;
        for (param p : stream ? std::array{param::write_size, param::read_size}
                              : std::array{param::request_size, param::response_size}) {
            const setting* own = r[p];
            const bool own_default = own && r.from_defaults[static_cast<std::size_t>(p)];
            if (own && own_default == ms_default) {
                if (!ms_default) {
                    diags_.error(own->loc,
                                 fmt::format("'{}' and 'message_size' are both set; message_size sets {} "
                                             "and {} together",
                                             info(p).name,
                                             info(stream ? param::write_size : param::request_size).name,
                                             info(stream ? param::read_size : param::response_size).name));
                    ok = false;
                }
                continue; // both from defaults: the explicit size stays
            }
            if (own && !own_default) continue; // the scenario's own size beats defaults' message_size
            (p == param::write_size     ? j.write_size
             : p == param::read_size    ? j.read_size
             : p == param::request_size ? j.request_size
                                        : j.response_size) = value;
        }
        if (engine::info(kind).udp() && value > max_udp_payload && !ms_default) {
            diags_.error(ms->loc,
                         fmt::format("message_size: a UDP datagram carries at most {} bytes, got '{}'",
                                     max_udp_payload, ms->text));
            ok = false;
        }
        return ok;
    }

    /// An `expect:` or `search.slo` entry on a metric `kind` never measures can only fail at run
    /// time ("not measured"): refused here, at the metric's key, with what the kind measures.
    void measured(std::string_view what, const expectation& e, traffic kind, const scenario& sc) {
        const auto m = metric_from_name(e.metric);
        if (!m || measured_by(kind, *m)) return;
        std::vector<std::string_view> names;
        for (metric x : measured_metrics(kind))
            names.push_back(info(x).name);
        std::string hint = did_you_mean(e.metric, names);
        // Not close in spelling, but what plays the same part for this kind.
        if (hint.empty()) {
            const engine::traffic_info& row = engine::info(kind);
            std::optional<metric> twin;
            if (*m == metric::loss_ratio) twin = metric::retransmits;
            if (*m == metric::retransmits) twin = metric::loss_ratio;
            if (*m == metric::transactions_per_s || *m == metric::connections_per_s)
                twin = row.stream() ? metric::throughput_bps : metric::transactions_per_s;
            if (twin && measured_by(kind, *twin))
                hint = fmt::format(", did you mean '{}'?", info(*twin).name);
        }
        diags_.error(e.loc, fmt::format("{}: {} does not measure {} (scenario '{}'; {} measures {}){}", what,
                                        name_of(kind), e.metric, sc.name, name_of(kind),
                                        fmt::join(names, ", "), hint));
    }

    /// The search's rates in messages/s (bit rates over the message size); a rate from
    /// `defaults:` gives way to the search.
    void search(const search_rule& rule, traffic kind, std::uint32_t message, instance& in) {
        if (!(searchable & mask_of(kind)))
            diags_.error(rule.loc, fmt::format("'search' does not apply to {} (it applies to {})",
                                               name_of(kind), describe(searchable)));
        in.search = rule;
        auto per_s = [&](const rate& r) {
            return r.how == rate::unit::bits_per_second ? r.value / (8.0 * message) : r.value;
        };
        in.search->low_per_s = per_s(rule.low);
        in.search->high_per_s = per_s(rule.high);
        if (in.search->low_per_s > in.search->high_per_s && rule.low.how != rule.high.how &&
            rule.high.how != rate::unit::unlimited)
            diags_.error(rule.loc,
                         fmt::format("search.rate: the low end ({}) is above the high end ({}) with "
                                     "{}-byte messages",
                                     format_rate(rule.low), format_rate(rule.high), message));
        if (rule.probe_duration.count() == 0) in.search->probe_duration = in.job.duration;
        in.job.rate = 0; // each probe sets its own
    }

    /// `via:` and `compare_direct:`. Written in the scenario, via must name other hosts and TCP
    /// traffic; from `defaults:` it applies where it can.
    void via(const scenario& sc, traffic kind, instance& in) {
        const bool own = sc.via.has_value();
        const auto& v = own ? sc.via : p_.defaults.via;
        const auto& cd = sc.compare_direct ? sc.compare_direct : p_.defaults.compare_direct;
        if (v && !(proxyable & mask_of(kind))) {
            if (own)
                diags_.error(v->loc, fmt::format("'via' does not apply to {}: a forwarder relays TCP "
                                                 "connections (it applies to {})",
                                                 name_of(kind), describe(proxyable)));
            return;
        }
        if (v && own && sc.search)
            diags_.error(v->loc, "'via' and 'search' cannot be combined (a search runs end to end)");
        if (v) {
            std::vector<std::string_view> names;
            for (const auto& h : p_.hosts)
                names.push_back(h.name);
            for (const auto& h : v->value) {
                if (!p_.find_host(h.value)) {
                    auto hint = did_you_mean(h.value, names);
                    diags_.error(h.loc, hint.empty()
                                            ? fmt::format("undefined via host '{}' (hosts are: {})", h.value,
                                                          host_list(p_))
                                            : fmt::format("undefined via host '{}'{}", h.value, hint));
                } else if (h.value == in.client || h.value == in.server) {
                    diags_.error(h.loc, fmt::format("via host '{}' is this scenario's {}; a proxy must be "
                                                    "another host",
                                                    h.value, h.value == in.client ? "client" : "server"));
                } else {
                    in.via.push_back(h.value);
                }
            }
        }
        if (cd) {
            if (cd->value && !v && sc.compare_direct)
                diags_.error(cd->loc, "compare_direct needs 'via' (a proxy chain to compare with)");
            in.compare_direct = cd->value && !in.via.empty();
        }
        const auto& spec = sc.placement ? sc.placement : p_.defaults.placement;
        if (spec && spec->via) {
            in.via_placement = spec->via->value;
            in.via_placement_loc = spec->via->loc;
        }
    }

    void placement(const scenario& sc, instance& in) {
        const auto& spec = sc.placement ? sc.placement : p_.defaults.placement;
        if (!spec) return;
        if (spec->client) {
            in.client_placement = spec->client->value;
            in.client_placement_loc = spec->client->loc;
        }
        if (spec->server) {
            in.server_placement = spec->server->value;
            in.server_placement_loc = spec->server->loc;
        }
        if (spec->distinct_rx) {
            in.job.distinct_rx = spec->distinct_rx->value;
            in.distinct_rx_loc = spec->distinct_rx->loc;
        }
    }

    const plan& p_;
    diagnostics& diags_;
    bool in_member_ = false; ///< resolving a group member: the plan's defaults' expect and until do not apply
};

} // namespace

bool group_measures(const instance& g, metric m) {
    if (m == metric::throughput_bps || m == metric::fairness) return true;
    if (m == metric::client_cpu_s || m == metric::server_cpu_s || m == metric::client_service_demand ||
        m == metric::server_service_demand)
        return false; // per host in a group (group_record), never per member or group
    bool any = false, one_kind = true;
    for (const auto& x : g.members) {
        if (!measured_by(x.job.kind, m)) continue;
        if (any && info(m).is_latency) {
            auto first = std::find_if(g.members.begin(), g.members.end(),
                                      [&](const instance& y) { return measured_by(y.job.kind, m); });
            one_kind = one_kind && first->job.kind == x.job.kind;
        }
        any = true;
    }
    if (m == metric::loss_ratio || m == metric::retransmits) return any;
    return any && one_kind;
}

engine::job_spec instance::for_via() const {
    engine::job_spec j = job;
    j.placement = via_placement;
    return j;
}

engine::job_spec instance::for_side(side s) const {
    engine::job_spec j = job;
    j.placement = s == side::client ? client_placement : server_placement;
    return j;
}

std::vector<instance> expand_checked(const plan& p, diagnostics& diags) {
    std::vector<instance> out;
    expander x(p, diags);
    for (const auto& sc : p.scenarios)
        x.scenario_instances(sc, out);
    return out;
}

std::vector<const instance*> pair_instances(const std::vector<instance>& instances) {
    std::vector<const instance*> out;
    for (const auto& i : instances) {
        if (!i.is_group()) out.push_back(&i);
        for (const auto& m : i.members)
            out.push_back(&m);
    }
    return out;
}

std::vector<instance> expand(const plan& p) {
    diagnostics diags;
    auto out = expand_checked(p, diags);
    // load_plan() ran the same expansion; an error here means the plan was not loaded by it.
    if (diags.any()) throw std::logic_error("expand: plan has errors; load it with load_plan()");
    return out;
}

} // namespace kp::runner
