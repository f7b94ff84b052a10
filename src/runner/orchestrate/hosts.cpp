#include "runner/orchestrate/hosts.hpp"

#include <cctype>
#include <future>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "remote/exec_transport.hpp"
#include "remote/local_transport.hpp"
#include "remote/ssh/config.hpp"
#include "remote/ssh/transport.hpp"

namespace kp::runner {
namespace {

using namespace std::chrono_literals;

constexpr auto hello_timeout = std::chrono::milliseconds(15000);
constexpr auto environment_timeout = std::chrono::milliseconds(15000);

/// A global unicast address: not loopback, not link-local (IPv4 169.254/16, IPv6 fe80::/10).
bool is_global(const std::string& a) {
    if (a.find(':') != std::string::npos) {
        std::string l;
        for (char c : a)
            l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return l != "::1" && !l.starts_with("fe8") && !l.starts_with("fe9") && !l.starts_with("fea") &&
               !l.starts_with("feb") && l.find('%') == std::string::npos;
    }
    return !a.starts_with("127.") && !a.starts_with("169.254.") && a != "0.0.0.0";
}

/// `address: auto`: the first global address of the agent's interfaces (or of `name`'s).
result<std::string> auto_address(const remote::capabilities& caps, const std::string& name) {
    std::vector<std::string> seen;
    for (const auto& i : caps.interfaces) {
        seen.push_back(i.name);
        if (!name.empty() && i.name != name) continue;
        for (const auto& a : i.addresses)
            if (is_global(a)) return a;
        if (!name.empty())
            return fail(fmt::format(
                "address: {{auto: {}}}: interface {} has no global address (it has: {})", name, name,
                i.addresses.empty() ? "none" : fmt::format("{}", fmt::join(i.addresses, ", "))));
    }
    if (!name.empty())
        return fail(fmt::format("address: {{auto: {}}}: the host has no interface {} (it has: {})", name,
                                name, fmt::join(seen, ", ")));
    return fail(
        fmt::format("address: auto: the host has no global address on any interface ({}); set address",
                    fmt::join(seen, ", ")));
}

deploy_record record_of(const remote::deploy_report& r) {
    return {r.method, r.uploaded, r.remote_path, r.sha256};
}

struct opened {
    std::unique_ptr<remote::agent_client> agent;
    host_record record;
};

opened open_one(const host& h, const plan& p, const run_options& options, const std::string& executable,
                const remote::log_sink& sink) {
    opened o;
    o.record.name = h.name;
    auto failed = [&](std::string step, const error& e) {
        o.record.failure = failure_reason{h.name, std::move(step), e.message};
        return std::move(o);
    };
    std::string resolved_address; ///< ssh: the HostName an alias stands for
    result<std::unique_ptr<remote::transport>> link = fail("no transport");
    if (h.local()) {
        remote::local_options lo;
        lo.host_name = h.name;
        lo.executable = executable;
        lo.sink = sink;
        auto t = remote::local_transport::spawn(std::move(lo));
        if (t)
            link = std::unique_ptr<remote::transport>(std::move(*t));
        else
            link = fail(t.error());
        o.record.transport = "local";
    } else if (!h.exec.empty()) {
        remote::exec_options eo;
        eo.host_name = h.name;
        eo.command = h.exec;
        eo.agent_path = h.agent_path;
        eo.sink = sink;
        remote::deploy_report rep;
        link = remote::open_exec_agent(eo, executable, &rep);
        if (link) o.record.deploy = record_of(rep);
        o.record.transport = remote::describe_exec(h.exec);
    } else {
        remote::ssh_options so;
        auto target = [](const ssh_address& a) {
            return remote::ssh_target{a.user, a.host, a.port_given ? a.port : std::uint16_t{0}};
        };
        so.target = target(*h.ssh);
        for (const auto& j : h.jump)
            so.jump.push_back(target(j));
        so.ssh_config = p.settings.ssh_config;
        so.identity = h.identity;
        so.known_hosts = !options.known_hosts.empty() ? options.known_hosts
                         : !h.known_hosts.empty()     ? h.known_hosts
                                                      : p.settings.known_hosts;
        so.accept_new_host_key = options.accept_new_host_keys;
        so.connect_timeout = p.settings.connect_timeout;
        so.agent_path = h.agent_path;
        so.host_name = h.name;
        remote::deploy_report rep;
        link = remote::open_ssh_agent(so, executable, sink, &rep);
        if (link) o.record.deploy = record_of(rep);
        // As reached (ssh_config applied, jump hosts named), else as written.
        o.record.transport = link ? (*link)->describe() : "ssh " + h.ssh->str();
        // No address given: the data plane goes where ssh_config's HostName points, not to the alias.
        if (link && h.address == h.ssh->host)
            if (auto r = remote::resolve_ssh_target(so)) resolved_address = r->target.host;
    }
    if (!link) return failed("start agent", link.error());
    // A local agent cannot be cut off: the end of its pipe and its death signal already say the
    // runner is gone. Sparing it the keepalive also lets a stopped (Ctrl-Z) runner keep it.
    const auto keepalive = h.local() ? std::chrono::milliseconds(0) : options.keepalive;
    auto agent = remote::agent_client::start(h.name, std::move(*link), hello_timeout, keepalive);
    if (!agent) return failed("hello", agent.error());
    o.record.capabilities = (*agent)->caps();
    if (h.address_auto) {
        auto a = auto_address((*agent)->caps(), *h.address_auto);
        if (!a) {
            (*agent)->shutdown();
            return failed("address", a.error());
        }
        o.record.address = *a;
    } else {
        o.record.address = resolved_address.empty() ? h.address : resolved_address;
    }
    auto env = (*agent)->environment(environment_timeout);
    if (!env) return failed("environment", env.error());
    o.record.environment = std::move(*env);
    o.agent = std::move(*agent);
    return o;
}

} // namespace

remote::agent_client* agent_pool::find(const std::string& host) const {
    auto it = agents.find(host);
    return it == agents.end() ? nullptr : it->second.get();
}

const host_record* agent_pool::record(const std::string& host) const {
    for (const auto& h : hosts)
        if (h.name == host) return &h;
    return nullptr;
}

void agent_pool::declare_dead(const std::string& host, const failure_reason& why) {
    auto it = agents.find(host);
    if (it == agents.end()) return;
    dead.push_back(std::move(it->second));
    agents.erase(it);
    for (auto& h : hosts)
        if (h.name == host)
            h.failure = failure_reason{host, "declared dead", fmt::format("{}: {}", why.step, why.error)};
}

void agent_pool::shutdown() {
    // Concurrently: each shutdown waits for its agent to exit.
    std::vector<std::future<void>> done;
    for (auto& [_, a] : agents)
        done.push_back(std::async(std::launch::async, [&a] { a->shutdown(); }));
    for (auto& a : dead)
        done.push_back(std::async(std::launch::async, [&a] { a->shutdown(); }));
    for (auto& d : done)
        d.get();
}

agent_pool open_agents(const plan& p, const std::set<std::string>& names, const run_options& options,
                       const std::string& executable, const remote::log_sink& sink) {
    std::vector<std::future<opened>> pending;
    for (const auto& h : p.hosts)
        if (names.contains(h.name))
            pending.push_back(std::async(std::launch::async, [&h, &p, &options, &executable, &sink] {
                return open_one(h, p, options, executable, sink);
            }));
    agent_pool pool;
    for (auto& f : pending) {
        opened o = f.get();
        if (o.agent) pool.agents.emplace(o.record.name, std::move(o.agent));
        pool.hosts.push_back(std::move(o.record));
    }
    return pool;
}

} // namespace kp::runner
