#include "runner/orchestrate/check.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "engine/traffic/job_defaults.hpp"
#include "engine/traffic/traffic.hpp"
#include "engine/worker/placement.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/orchestrate/repeat.hpp"

namespace kp::runner {
namespace {

/// The 16 bytes of a numeric IPv4 (as ::ffff:a.b.c.d) or IPv6 address, zone dropped; nullopt for a name.
std::optional<std::array<unsigned char, 16>> ip_bytes(const std::string& text) {
    std::array<unsigned char, 16> out{};
    std::string bare = text.substr(0, text.find('%'));
    in_addr v4{};
    if (inet_pton(AF_INET, bare.c_str(), &v4) == 1) {
        out[10] = out[11] = 0xff;
        std::memcpy(out.data() + 12, &v4, 4);
        return out;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, bare.c_str(), &v6) == 1) {
        std::memcpy(out.data(), &v6, 16);
        return out;
    }
    return std::nullopt;
}

/// The interface of `caps` that holds `address`; "" when none does; nullopt when it is a name.
std::optional<std::string> interface_holding(const nlohmann::json& caps, const std::string& address) {
    auto want = ip_bytes(address);
    if (!want) return std::nullopt;
    for (const auto& i : caps.value("interfaces", nlohmann::json::array()))
        for (const auto& a : i.value("addresses", nlohmann::json::array()))
            if (ip_bytes(a.get<std::string>()) == want) return i.value("name", "?");
    return std::string();
}

std::string interfaces_line(const nlohmann::json& caps) {
    std::vector<std::string> parts;
    for (const auto& i : caps.value("interfaces", nlohmann::json::array())) {
        std::vector<std::string> addrs;
        for (const auto& a : i.value("addresses", nlohmann::json::array()))
            addrs.push_back(a.get<std::string>());
        std::string driver = i.value("driver", "");
        parts.push_back(
            fmt::format("{} {} (mtu {}{})", i.value("name", "?"),
                        addrs.empty() ? std::string("-") : fmt::format("{}", fmt::join(addrs, " ")),
                        i.value("mtu", 0), driver.empty() ? "" : ", " + driver));
    }
    return fmt::format("{}", fmt::join(parts, "; "));
}

/// A probe of `kind` on `r`: one flow, no warm-up, a short window, default sizes.
instance probe_instance(const probe_route& r, engine::traffic kind, const probe_timing& t) {
    instance inst;
    inst.scenario = "check";
    inst.id = fmt::format("check/{}/{}/{}", r.client, r.server, engine::info(kind).name);
    inst.client = r.client;
    inst.server = r.server;
    inst.via = r.via;
    inst.job = engine::default_job(kind);
    inst.job.flows = 1;
    inst.job.warmup = std::chrono::nanoseconds(0);
    inst.job.duration = t.window;
    return inst;
}

} // namespace

std::vector<probe_route> probe_routes(const std::vector<instance>& instances) {
    std::vector<probe_route> out;
    for (const instance* ip : pair_instances(instances)) {
        const instance& i = *ip;
        probe_route r{i.client, i.server, i.via, false};
        const bool udp = engine::info(i.job.kind).udp();
        auto same = [&r](const probe_route& o) {
            return o.client == r.client && o.server == r.server && o.via == r.via;
        };
        auto it = std::find_if(out.begin(), out.end(), same);
        if (it == out.end()) it = out.insert(out.end(), r);
        it->udp = it->udp || udp;
    }
    return out;
}

std::string describe_route(const plan& p, const probe_route& r, const agent_pool* pool) {
    auto address_of = [&](const plan& p, const std::string& h) {
        return pool ? runner::address_of(p, *pool, h) : runner::address_of(p, h);
    };
    if (r.via.empty()) return fmt::format("{} -> {} ({})", r.client, r.server, address_of(p, r.server));
    std::vector<std::string> hops;
    for (const auto& h : r.via)
        hops.push_back(fmt::format("{} {}", h, address_of(p, h)));
    hops.push_back(fmt::format("{} {}", r.server, address_of(p, r.server)));
    return fmt::format("{} -> {} via {} ({})", r.client, r.server, fmt::join(r.via, ", "),
                       fmt::join(hops, ", "));
}

probe_result run_probe(const plan& p, const probe_route& route, engine::traffic kind, agent_pool& pool,
                       const probe_timing& timing) {
    probe_result out;
    out.kind = kind;
    auto unavailable = [&](const std::string& host) { return host_unavailable(pool, host); };
    const instance inst = probe_instance(route, kind, timing);
    repeat_context ctx;
    ctx.inst = &inst;
    ctx.client = pool.find(route.client);
    ctx.server = pool.find(route.server);
    ctx.server_address = address_of(p, pool, route.server);
    ctx.establish_timeout = timing.establish;
    if (!ctx.client) out.failure = unavailable(route.client);
    if (!out.failure && !ctx.server) out.failure = unavailable(route.server);
    for (const auto& h : route.via) {
        if (out.failure) break;
        ctx.via.push_back(pool.find(h));
        ctx.via_addresses.push_back(address_of(p, pool, h));
        if (!ctx.via.back()) out.failure = unavailable(h);
    }
    if (out.failure) return out;
    auto rep = run_repeat(ctx);
    if (!rep) {
        out.failure = rep.error();
        return out;
    }
    out.transactions = rep->client.totals.transactions;
    out.p50_us = static_cast<double>(rep->client.latency.percentile(50)) / 1e3;
    if (out.transactions == 0)
        out.failure = failure_reason{
            route.server, "probe",
            fmt::format("the data connection opened, but no {} transaction completed in {} ms",
                        engine::info(kind).name,
                        std::chrono::duration_cast<std::chrono::milliseconds>(timing.window).count())};
    return out;
}

std::string format_host_facts(const host_record& h, const std::string& data_address) {
    std::string out = fmt::format("host {}: {}\n", h.name, h.transport);
    if (h.failure) return out + fmt::format("  FAILED: {}: {}\n", h.failure->step, h.failure->error);
    const auto& caps = h.capabilities;
    const auto& env = h.environment;
    out += fmt::format("  agent: {} (pid {}, protocol {}), binary {}\n", caps.value("build_id", "?"),
                       caps.value("pid", 0), caps.value("protocol_version", 0), env.value("executable", "?"));
    std::string model = env.value("cpu_model", "");
    out += fmt::format("  system: {}, kernel {} ({}){}\n", env.value("hostname", "?"),
                       caps.value("kernel", "?"), caps.value("arch", "?"), model.empty() ? "" : ", " + model);
    auto allowed = caps.value("allowed_cpus", std::vector<int>{});
    out += fmt::format("  cpus: {} online, allowed {}\n", caps.value("cpu_count", 0),
                       engine::format_cpu_list(allowed));
    out += caps.value("ktls", false)
               ? std::string("  ktls: available\n")
               : fmt::format("  ktls: unavailable ({})\n", caps.value("ktls_reason", "?"));
    out += fmt::format("  interfaces: {}\n", interfaces_line(caps));
    auto on = interface_holding(caps, data_address);
    if (!on)
        out += fmt::format("  data address: {} (a name; the probes show whether it reaches this host)\n",
                           data_address);
    else if (on->empty())
        out += fmt::format("  data address: {} (WARNING: on none of its interfaces)\n", data_address);
    else
        out += fmt::format("  data address: {} (on {})\n", data_address, *on);
    return out;
}

} // namespace kp::runner
