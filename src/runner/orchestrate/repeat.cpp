#include "runner/orchestrate/repeat.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "remote/clock.hpp"
#include "runner/orchestrate/failure.hpp"
#include "runner/orchestrate/live.hpp"
#include "runner/results/metrics.hpp"

namespace kp::runner {

std::atomic<bool> interrupt_requested{false};
std::atomic<int> interrupt_signal{0};

namespace {

using namespace std::chrono_literals;
using remote::agent_client;

constexpr agent_client::timeout setup_timeout = 15s;
constexpr agent_client::timeout start_timeout = 10s;

constexpr auto poll = 100ms;

/// One side of the repeat: its agent and its session name on that agent.
struct side_ref {
    agent_client* agent;
    std::string name;
    bool open = false;
};

template <class F> auto async(F f) {
    return std::async(std::launch::async, std::move(f));
}

template <class T> bool ready(const std::future<T>& f) {
    return f.wait_for(0s) == std::future_status::ready;
}

} // namespace

agent_client::timeout wait_margin(const engine::job_spec& j) {
    auto tenth = std::chrono::duration_cast<agent_client::timeout>((j.warmup + j.duration) / 10);
    return std::clamp<agent_client::timeout>(tenth, 5s, 30s);
}

std::string make_token() {
    std::random_device rd;
    std::string s;
    for (int i = 0; i < 4; ++i)
        s += fmt::format("{:08x}", rd());
    return s;
}

std::expected<repeat_record, failure_reason> run_repeat(const repeat_context& ctx) {
    const instance& inst = *ctx.inst;
    std::string base = fmt::format("{}#{}", inst.id, ctx.index);
    // Distinct session names: client and server may be the same agent (one local host).
    side_ref server{ctx.server, base + "/server"}, client{ctx.client, base + "/client"};
    std::vector<side_ref> hops;
    for (std::size_t i = 0; i < ctx.via.size(); ++i)
        hops.push_back({ctx.via[i], fmt::format("{}/via{}", base, i)});
    std::string token = make_token();
    engine::job_spec sjob = inst.for_side(side::server), cjob = inst.for_side(side::client);
    sjob.token = cjob.token = token;
    sjob.id = cjob.id = inst.id;

    auto cleanup = [&] {
        std::vector<side_ref*> all{&client, &server};
        for (auto& h : hops)
            all.push_back(&h); // forwarders last: the end hosts close through them
        for (side_ref* s : all)
            if (s->open) {
                // A lost agent would only make each request wait out its timeout.
                if (s->agent->alive() && !s->agent->unresponsive()) {
                    (void)s->agent->stop(s->name, 5s);
                    (void)s->agent->release(s->name);
                }
                s->open = false;
            }
    };
    auto failure_of = [&](const side_ref& s, const std::string& step, const error& e) {
        failure_reason f = side_failure(s.agent->host(), step, s.name, e);
        f.host_lost = !s.agent->alive() || s.agent->unresponsive();
        return f;
    };
    auto failed = [&](const side_ref& s, const std::string& step, const error& e) {
        cleanup();
        return std::unexpected(failure_of(s, step, e));
    };
    // Both ends failed the same step: keep both errors, the cause first.
    auto both_ends_failed = [&](const std::string& step, const error& ce, const error& se) {
        cleanup();
        return std::unexpected(
            both_failed(failure_of(client, step, ce), ce, failure_of(server, step, se), se));
    };
    auto interrupted = [&](std::string step) {
        cleanup();
        return std::unexpected(interrupted_at(std::move(step), interrupt_signal));
    };

    auto l = server.agent->listen(server.name, sjob, {ctx.server_address, 0}, setup_timeout);
    if (!l) return failed(server, "listen", l.error());
    server.open = true;
    cjob.tls.peer_fingerprint = l->tls_fingerprint; // TLS runs end to end, through the forwarders
    // Forwarders back to front, so that each one's next hop is already listening.
    engine::endpoint next{ctx.server_address, l->port};
    engine::job_spec vjob = inst.for_via();
    vjob.token = token;
    vjob.id = inst.id;
    for (std::size_t i = hops.size(); i-- > 0;) {
        auto f = hops[i].agent->forward(hops[i].name, vjob, {ctx.via_addresses[i], 0}, next, setup_timeout);
        if (!f) return failed(hops[i], "forward", f.error());
        hops[i].open = true;
        next = {ctx.via_addresses[i], f->port};
    }
    auto c = client.agent->connect(client.name, cjob, next, setup_timeout);
    if (!c) return failed(client, "connect", c.error());
    client.open = true;
    if (interrupt_requested) return interrupted("connect");

    // Both ends complete the data connections together (accept on one side, connect on the other).
    auto es = async([&] { return server.agent->establish(server.name, ctx.establish_timeout); });
    auto ec = async([&] { return client.agent->establish(client.name, ctx.establish_timeout); });
    auto ec_r = ec.get();
    // A client that could not connect leaves the server waiting for connections that never come:
    // stop its establish now rather than at the timeout.
    if (!ec_r) (void)server.agent->stop(server.name, 5s);
    auto es_r = es.get();
    // When both failed, one is usually the other's consequence (the client aborted, the server
    // gave up): both_failed() puts the cause first.
    if (!ec_r && !es_r) return both_ends_failed("establish", ec_r.error(), es_r.error());
    if (!ec_r) return failed(client, "establish", ec_r.error());
    if (!es_r) return failed(server, "establish", es_r.error());
    if (interrupt_requested) return interrupted("establish");

    // Each host's clock against the runner's, just before the start (remote/clock.hpp): the
    // shared window is placed on the runner's clock with these.
    std::map<std::string, remote::clock_estimate> clocks;
    std::vector<side_ref*> all_sides{&client, &server};
    for (auto& h : hops)
        all_sides.push_back(&h);
    for (side_ref* s : all_sides) {
        if (clocks.contains(s->agent->host())) continue; // one agent for two sides
        auto e = remote::estimate_clock(*s->agent, 8, start_timeout);
        if (!e) return failed(*s, "clock", e.error());
        clocks[s->agent->host()] = *e;
    }

    // Start both as close together as possible.
    std::vector<result<void>> hs_r;
    for (auto& h : hops) // quick (a forwarder only opens its CPU window); just before the ends
        hs_r.push_back(h.agent->start(h.name, start_timeout));
    for (std::size_t i = 0; i < hops.size(); ++i)
        if (!hs_r[i]) return failed(hops[i], "start", hs_r[i].error());
    auto ss = async([&] { return server.agent->start(server.name, start_timeout); });
    auto sc = async([&] { return client.agent->start(client.name, start_timeout); });
    auto ss_r = ss.get(), sc_r = sc.get();
    if (!ss_r && !sc_r) return both_ends_failed("start", sc_r.error(), ss_r.error());
    if (!ss_r) return failed(server, "start", ss_r.error());
    if (!sc_r) return failed(client, "start", sc_r.error());

    auto wait_for =
        std::chrono::duration_cast<agent_client::timeout>(cjob.warmup + cjob.duration) + wait_margin(cjob);
    auto ws = async([&] { return server.agent->wait(server.name, wait_for); });
    auto wc = async([&] { return client.agent->wait(client.name, wait_for); });
    std::vector<std::future<result<engine::side_result>>> wh;
    for (auto& h : hops)
        wh.push_back(async([&h, wait_for] { return h.agent->wait(h.name, wait_for); }));
    std::optional<result<engine::side_result>> ws_r, wc_r;
    bool stopped = false, interrupted_now = false;
    // -i: rates are the client's for rr and crr, the receiving side's for streams.
    live_printer live(ctx.live);
    const bool stream = engine::info(inst.job.kind).stream();
    if (!stream || inst.job.dir != engine::direction::forward)
        live.watch(client.agent, client.name, inst.id + " client", stream);
    if (stream && inst.job.dir != engine::direction::reverse)
        live.watch(server.agent, server.name, inst.id + " server", stream);
    while (!ws_r || !wc_r) {
        (ws_r ? wc : ws).wait_for(poll);
        if (!ws_r && ready(ws)) ws_r = ws.get();
        if (!wc_r && ready(wc)) wc_r = wc.get();
        if (ctx.tick) ctx.tick();
        live.poll();
        // An interrupt, or one side failed: stop both now rather than let the other run out.
        bool one_failed = (ws_r && !*ws_r) || (wc_r && !*wc_r);
        if (!stopped && (interrupt_requested || one_failed)) {
            interrupted_now = interrupt_requested;
            (void)server.agent->stop(server.name, 5s);
            (void)client.agent->stop(client.name, 5s);
            for (auto& h : hops)
                (void)h.agent->stop(h.name, 5s);
            stopped = true;
        }
    }
    std::vector<result<engine::side_result>> wh_r;
    for (auto& f : wh)
        wh_r.push_back(f.get());
    if (!*ws_r && !*wc_r) return both_ends_failed("wait", wc_r->error(), ws_r->error());
    if (!*ws_r) return failed(server, "wait", ws_r->error());
    if (!*wc_r) return failed(client, "wait", wc_r->error());
    for (std::size_t i = 0; i < hops.size(); ++i)
        if (!wh_r[i]) return failed(hops[i], "wait", wh_r[i].error());
    if (interrupted_now) return interrupted("wait");
    live.rest(server.name, (*ws_r)->samples);
    live.rest(client.name, (*wc_r)->samples);
    cleanup();

    repeat_record rec;
    rec.index = ctx.index;
    rec.client = std::move(**wc_r);
    rec.server = std::move(**ws_r);
    rec.metrics = derive_metrics(inst.job.kind, rec.client, rec.server);
    for (const auto& [host, e] : clocks) {
        rec.clock_offset_ns[host] = e.offset_ns;
        rec.clock_uncertainty_ns[host] = e.uncertainty_ns;
    }
    for (auto& h : wh_r)
        rec.hops.push_back(std::move(*h));
    std::int64_t os = clocks[server.agent->host()].offset_ns, oc = clocks[client.agent->host()].offset_ns;
    rec.shared_start_ns = std::max(rec.server.window_start_ns - os, rec.client.window_start_ns - oc);
    rec.shared_end_ns = std::min(rec.server.window_end_ns - os, rec.client.window_end_ns - oc);
    return rec;
}

} // namespace kp::runner
