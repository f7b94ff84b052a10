#include "runner/orchestrate/hosts.hpp"

#include <future>

#include <fmt/format.h>

#include "remote/local_transport.hpp"
#include "remote/ssh/transport.hpp"

namespace kp::runner {
namespace {

using namespace std::chrono_literals;

constexpr auto hello_timeout = std::chrono::milliseconds(15000);
constexpr auto environment_timeout = std::chrono::milliseconds(15000);

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
        link = remote::open_ssh_agent(so, executable, sink);
        // As reached (ssh_config applied, jump hosts named), else as written.
        o.record.transport = link ? (*link)->describe() : "ssh " + h.ssh->str();
    }
    if (!link) return failed("start agent", link.error());
    auto agent = remote::agent_client::start(h.name, std::move(*link), hello_timeout);
    if (!agent) return failed("hello", agent.error());
    o.record.capabilities = (*agent)->caps();
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

void agent_pool::shutdown() {
    // Concurrently: each shutdown waits for its agent to exit.
    std::vector<std::future<void>> done;
    for (auto& [_, a] : agents)
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
