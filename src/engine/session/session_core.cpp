#include "engine/session/session_core.hpp"

#include <algorithm>
#include <map>

#include <sys/prctl.h>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/core/hello.hpp"
#include "engine/stats/fold.hpp"
#include "engine/stats/tcp_stats.hpp"
#include "engine/tls/tls.hpp"
#include "engine/traffic/traffic.hpp"
#include "engine/worker/placement.hpp"

namespace kp::engine {

namespace {

std::unexpected<error> usage(std::string message) {
    error e = make_error(std::move(message));
    e.kind = error_kind::usage;
    return std::unexpected(std::move(e));
}

std::chrono::steady_clock::time_point at(std::int64_t mono) {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(mono));
}

// After the window, each worker stops as soon as what it owes is drained (the peer's FIN, the
// sender's end note, the tcp_crr client's flows finished); this bounds only a silent peer.
constexpr std::int64_t linger_ns = std::chrono::nanoseconds(silent_peer_timeout).count();

/// The per-flow figure of the kind's headline, which flows are ranked and folded by.
flow_figure headline_figure(headline h) {
    switch (h) {
    case headline::transactions:
        return [](const flow_result& f) { return f.transactions; };
    case headline::connections:
        return [](const flow_result& f) { return f.connections; };
    case headline::throughput:
        break;
    }
    return [](const flow_result& f) { return f.bytes_received + f.bytes_sent; };
}

void add_counters(flow_totals& t, const counters& d) {
    t.bytes_sent += d.bytes_sent;
    t.bytes_received += d.bytes_received;
    t.transactions += d.transactions;
    t.connections += d.connections;
    t.datagrams_sent += d.datagrams_sent;
    t.datagrams_received += d.datagrams_received;
    t.lost += d.lost;
    t.reordered += d.reordered;
    t.duplicated += d.duplicated;
}

} // namespace

result<void> validate_job(const job_spec& j) {
    if (j.flows == 0) return usage("flows must be at least 1");
    if (j.write_size == 0 || j.read_size == 0) return usage("write_size and read_size must be at least 1");
    if (j.request_size == 0 || j.response_size == 0)
        return usage("request_size and response_size must be at least 1");
    if (j.in_flight == 0) return usage("in_flight must be at least 1");
    if (j.rate < 0) return usage("rate must not be negative");
    if (j.duration.count() <= 0) return usage("duration must be positive");
    if (j.warmup.count() < 0) return usage("warmup must not be negative");
    if (j.token.size() > hello_max_token)
        return usage(fmt::format("token longer than {} bytes", hello_max_token));
    if (const traffic_info& k = info(j.kind); k.udp()) {
        if (j.tls.mode != tls_mode::none) return usage("TLS is not available for UDP kinds (no DTLS)");
        bool too_big = (k.uses(uses_write_size) && j.write_size > max_udp_payload) ||
                       (k.uses(uses_request_size) && j.request_size > max_udp_payload) ||
                       (k.uses(uses_response_size) && j.response_size > max_udp_payload);
        if (too_big)
            return usage("UDP datagrams are at most 65507 bytes (write_size, request_size, response_size)");
    }
    return {};
}

std::uint8_t conns_per_flow(const job_spec& job) {
    return info(job.kind).stream() && job.dir == direction::bidir ? 2 : 1;
}

conn_role role_for(const job_spec& job, bool server, std::uint8_t slot) {
    const traffic_info& k = info(job.kind);
    bool client_sends = job.dir == direction::forward || (job.dir == direction::bidir && slot == 0);
    bool swapped = k.directional && !client_sends; // the server sends on this connection
    return server != swapped ? k.server_role : k.client_role;
}

worker_plan plan_workers(const job_spec& job, std::span<const int> rx_cpus,
                         std::span<const std::uint32_t> flows, std::span<const int> allowed) {
    worker_plan p;
    const std::size_t n = rx_cpus.size();
    std::size_t w_default = job.workers != 0
                                ? job.workers
                                : std::max<std::size_t>(1, std::min<std::size_t>(job.flows, allowed.size()));
    if (job.placement.how != placement_rule::kind::rx || n == 0) {
        p.cpus.resize(w_default);
        for (std::size_t k = 0; k < w_default; ++k)
            p.cpus[k] = place(job.placement, -1, allowed, k);
        p.members.resize(w_default);
        for (std::size_t i = 0; i < n; ++i)
            p.members[flows[i] % w_default].push_back(i);
        return p;
    }
    // rx: group connections by the CPU their Rx CPU maps to.
    std::map<int, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < n; ++i)
        groups[place(job.placement, rx_cpus[i], allowed)].push_back(i);
    std::vector<std::pair<int, std::vector<std::size_t>>> g(groups.begin(), groups.end());
    const std::size_t G = g.size();
    const std::size_t W = job.workers != 0 ? job.workers : G;
    p.cpus.resize(W);
    p.members.resize(W);
    if (W >= G) {
        for (std::size_t gi = 0; gi < G; ++gi) {
            std::vector<std::size_t> mine;
            for (std::size_t k = gi; k < W; k += G)
                mine.push_back(k);
            for (std::size_t k : mine)
                p.cpus[k] = g[gi].first;
            for (std::size_t i : g[gi].second)
                p.members[mine[flows[i] % mine.size()]].push_back(i);
        }
    } else {
        for (std::size_t gi = 0; gi < G; ++gi) {
            std::size_t k = gi % W;
            if (gi < W) p.cpus[k] = g[gi].first;
            for (std::size_t i : g[gi].second)
                p.members[k].push_back(i);
        }
        p.note = fmt::format("placement rx: flows map to {} CPUs but there are only {} workers; "
                             "some workers serve flows whose target CPU is not theirs",
                             G, W);
    }
    return p;
}

result<std::int64_t> start_instant(std::int64_t go_realtime_ns) {
    std::int64_t mono = mono_ns(), real = real_ns();
    if (go_realtime_ns <= real) return mono;
    std::int64_t ahead = go_realtime_ns - real;
    if (ahead > std::chrono::nanoseconds(max_start_ahead).count())
        return usage(fmt::format("start instant {:.3f} s ahead; at most {} s ahead is accepted",
                                 double(ahead) / 1e9, max_start_ahead.count()));
    return mono + ahead;
}

session_core::session_core(const job_spec& job, bool server) : job_(job), server_(server) {
    payload_ = std::make_unique<pattern>(std::max<std::size_t>(
        {job.write_size, job.read_size, job.request_size, job.response_size, 64 * 1024}));
}

session_core::~session_core() {
    stop();
    for (auto& w : workers_)
        w->join();
    if (clock_.joinable()) clock_.join();
}

result<void> session_core::start(std::int64_t go_realtime_ns) {
    if (!established_) return fail("start() before establish() completed");
    if (started_) return fail("start() called twice");
    auto go_at = start_instant(go_realtime_ns);
    if (!go_at) return std::unexpected(go_at.error());
    const bool crr = info(job_.kind).crr();

    // Open-loop pacing: the job's rate is shared by this side's message sources.
    std::size_t sources = 0;
    for (auto& c : conns_)
        if (hooks(c->role).source) ++sources;
    for (auto& c : conns_)
        if (hooks(c->role).source && job_.rate > 0) c->mean_gap_ns = 1e9 * double(sources) / job_.rate;

    auto allowed = allowed_cpus();
    if (!allowed) return fail(allowed.error().context("placement"));
    if (auto why = check_placement(job_.placement, *allowed))
        return usage(fmt::format("placement: {}", *why));
    if (auto why = wrap_note(job_.placement, *allowed))
        placement_note_ += (placement_note_.empty() ? "" : "; ") + *why;
    std::vector<int> rx;
    std::vector<std::uint32_t> flow_of;
    if (crr) {
        for (std::size_t i = 0; i < probe_rx_.size(); ++i) {
            rx.push_back(probe_rx_[i]);
            flow_of.push_back(static_cast<std::uint32_t>(i));
        }
    } else {
        for (auto& c : conns_) {
            rx.push_back(c->rx_cpu_start);
            flow_of.push_back(c->flow);
        }
    }
    worker_plan plan = plan_workers(job_, rx, flow_of, *allowed);
    if (!plan.note.empty()) placement_note_ += (placement_note_.empty() ? "" : "; ") + plan.note;

    ctx_.job = &job_;
    ctx_.payload = payload_.get();
    ctx_.server = server_;
    ctx_.finish = &finish_;
    before_run();
    for (std::size_t k = 0; k < plan.cpus.size(); ++k) {
        // A tcp_crr server has no lasting connections: its workers share the listener.
        if (plan.members[k].empty() && !(crr && server_)) continue;
        auto w = std::make_unique<worker>(ctx_, static_cast<int>(k), plan.cpus[k]);
        if (!(crr && server_))
            for (std::size_t i : plan.members[k]) {
                w->add(conns_[i].get());
                conn_worker_[conns_[i].get()] = workers_.size();
            }
        worker_index_.push_back(static_cast<int>(k));
        if (auto r = w->prepare(); !r) return fail(r.error().context(fmt::format("worker {}", k)));
        workers_.push_back(std::move(w));
    }
    ready_ = std::make_unique<std::latch>(static_cast<std::ptrdiff_t>(workers_.size()));
    go_ = std::make_unique<std::latch>(1);
    for (auto& w : workers_)
        w->launch(*ready_, *go_);
    ready_->wait();
    started_ = true;
    for (auto& w : workers_) {
        if (!w->pin_error().empty()) {
            auto e = make_error(fmt::format("pinning worker to CPU {}: {}", w->cpu(), w->pin_error()));
            stop();
            go_->count_down();
            for (auto& x : workers_)
                x->join();
            joined_ = true;
            return fail(e);
        }
    }
    // The workers wait on `go_`; the clock thread releases them at the instant (an instant that
    // passed while they were made: now). The window is fixed here, before they read it.
    std::int64_t go = std::max(*go_at, mono_ns());
    ctx_.w.go = go;
    ctx_.w.begin = go + job_.warmup.count();
    ctx_.w.end = ctx_.w.begin + job_.duration.count();
    ctx_.w.linger_end = ctx_.w.end + linger_ns;
    clock_ = std::thread([this] { clock_body(); });
    return {};
}

void session_core::clock_body() {
    // The default 50 us timer slack would make the release, and so the window, late by as much.
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, at(ctx_.w.go), [&] { return stop_requested_; });
    // Released on stop too: the workers then see their stop event at once and exit.
    go_->count_down();
    if (stop_requested_) return;
    if (cv_.wait_until(lock, at(ctx_.w.begin), [&] { return stop_requested_; })) return;
    lock.unlock();
    auto begin = read_cpu_snapshot();
    std::int64_t real_begin = real_ns();
    auto tls_begin = tls::read_tls_stat();
    lock.lock();
    if (begin) cpu_begin_ = std::move(*begin);
    tls_stat_begin_ = std::move(tls_begin);
    real_begin_ = real_begin;
    cv_.wait_until(lock, at(ctx_.w.end), [&] { return stop_requested_; });
    lock.unlock();
    auto end = read_cpu_snapshot();
    std::int64_t real_end = real_ns();
    auto tls_end = tls::read_tls_stat();
    lock.lock();
    if (end) cpu_end_ = std::move(*end);
    tls_stat_end_ = std::move(tls_end);
    real_end_ = real_end;
}

bool session_core::wait(std::chrono::steady_clock::time_point deadline) {
    if (!started_ || joined_) return true;
    if (!finish_.wait_until(workers_.size(), deadline)) return false;
    for (auto& w : workers_)
        w->join();
    if (clock_.joinable()) clock_.join();
    joined_ = true;
    return true;
}

void session_core::stop() {
    {
        std::lock_guard lock(mu_);
        stop_requested_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_)
        w->stop();
}

std::vector<sample> session_core::live_samples() const {
    std::vector<sample> out;
    if (workers_.empty()) return out;
    std::size_t closed = SIZE_MAX;
    for (const auto& w : workers_)
        closed = std::min(closed, w->closed_samples());
    if (closed == 0 || closed == SIZE_MAX) return out;
    interval_latency merged;
    merged.reserve(closed);
    out.resize(closed);
    for (const auto& w : workers_)
        for (std::size_t i = 0; i < closed && i < w->samples.size(); ++i) {
            out[i].t = w->samples[i].t;
            out[i].bytes += w->samples[i].bytes;
            out[i].transactions += w->samples[i].transactions;
            merged.merge_interval(w->intervals, i, i);
        }
    for (std::size_t i = 0; i < closed; ++i) {
        out[i].latency_p50_us = merged.percentile_us(i, 50);
        out[i].latency_p99_us = merged.percentile_us(i, 99);
    }
    return out;
}

side_result session_core::collect() {
    if (started_ && !joined_) {
        if (!wait(std::chrono::steady_clock::now() + std::chrono::nanoseconds(2 * linger_ns))) stop();
        wait(std::chrono::steady_clock::time_point::max());
    }
    side_result r;
    bool complete =
        started_ && std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->reached_end; });
    r.window_start_ns = real_begin_;
    r.window_end_ns = real_end_;
    r.seconds = complete ? std::chrono::duration<double>(job_.duration).count()
                         : (real_end_ > real_begin_ ? double(real_end_ - real_begin_) / 1e9 : 0.0);
    r.flows.resize(job_.flows);
    std::vector<bool> has_tcp(job_.flows, false);
    const bool crr = info(job_.kind).crr();
    for (std::uint32_t f = 0; f < job_.flows; ++f) {
        r.flows[f].id = f;
        if (f < probes_.size()) {
            r.flows[f].rx_cpu_start = r.flows[f].rx_cpu_end = probe_rx_[f];
            r.flows[f].peer_rx_cpu = probe_peer_rx_[f];
            r.flows[f].local_port = local_port(probes_[f]->fd());
            r.flows[f].remote_port = remote_port(probes_[f]->fd());
        }
    }
    error_counts& e = r.errors;
    auto add_errors = [&](const counters& d) {
        e.connect += d.err_connect;
        e.read += d.err_read;
        e.write += d.err_write;
        e.timeout += d.err_timeout;
        e.verify += d.err_verify;
        e.rejected_hello += d.err_rejected;
    };
    auto add_traffic = [](flow_result& f, const counters& d) {
        f.bytes_sent += d.bytes_sent;
        f.bytes_received += d.bytes_received;
        f.transactions += d.transactions;
        f.connections += d.connections;
        f.datagrams_sent += d.datagrams_sent;
        f.datagrams_received += d.datagrams_received;
        f.lost += d.lost;
        f.reordered += d.reordered;
        f.duplicated += d.duplicated;
        f.tcp.total_retrans += d.retrans; // tcp_crr's; long-lived connections' come from tcp_info below
    };
    // Per worker: what it counted, the flows it carried and whose tcp_info it supplied.
    r.workers.resize(workers_.size());
    std::vector<std::pair<std::size_t, std::uint32_t>> carried; // (worker, flow)
    std::vector<std::size_t> tcp_worker(job_.flows, workers_.size());
    for (auto& cp : conns_) {
        conn& c = *cp;
        flow_result& f = r.flows[c.flow];
        const role_hooks& h = hooks(c.role);
        counters d = h.figures(c);
        add_traffic(f, d);
        add_errors(d);
        auto cw = conn_worker_.find(&c);
        if (cw != conn_worker_.end()) {
            add_counters(r.workers[cw->second].totals, d);
            carried.emplace_back(cw->second, c.flow);
        }
        if (c.slot == 0 && !crr) {
            f.rx_cpu_start = c.rx_cpu_start;
            f.rx_cpu_end = c.rx_cpu_end;
            f.peer_rx_cpu = c.peer_rx_cpu;
            f.local_port = c.local_port;
            f.remote_port = c.remote_port;
            f.tls = c.tls;
        }
        if (crr) f.tls = c.tls; // the last transaction's handshake
        if (f.app_cpu < 0 || c.slot == 0) f.app_cpu = c.app_cpu;
        // tcp_info of the flow: its sending connection's when it has one (bidir: slot 0).
        if (c.has_tcp_info && (!has_tcp[c.flow] || h.sender)) {
            f.tcp = tcp_delta(c.ti_begin, c.ti_end);
            has_tcp[c.flow] = true;
            if (cw != conn_worker_.end()) tcp_worker[c.flow] = cw->second;
        }
        if (c.own_hist) f.latency.merge(*c.own_hist);
    }
    for (auto& f : r.flows)
        r.latency.merge(f.latency);
    interval_latency intervals; // the workers' per-second latencies, merged
    for (std::size_t wi = 0; wi < workers_.size(); ++wi) {
        auto& w = workers_[wi];
        r.workers[wi].index = worker_index_[wi];
        r.workers[wi].cpu = w->cpu();
        r.workers[wi].app_cpu = w->app_cpu();
        for (std::size_t f = 0; f < w->crr_flows.size(); ++f) {
            add_counters(r.workers[wi].totals, w->crr_flows[f]);
            if (w->crr_flows[f].connections != 0) carried.emplace_back(wi, static_cast<std::uint32_t>(f));
        }
        r.latency.merge(w->latency); // flows beyond the per-flow histogram limit
        r.connect_latency.merge(w->connect_latency);
        r.close_latency.merge(w->close_latency);
        r.handshake_latency.merge(w->handshake_latency);
        r.send_lateness.merge(w->send_lateness);
        r.sends_held += w->sends_held;
        add_errors(w->extra);
        for (std::size_t f = 0; f < w->crr_flows.size() && f < r.flows.size(); ++f) {
            add_traffic(r.flows[f], w->crr_flows[f]);
            add_errors(w->crr_flows[f]);
            if (f < w->crr_tls.size() && w->crr_tls[f].tx_path != tls_path::none)
                r.flows[f].tls = w->crr_tls[f];
            if (r.flows[f].app_cpu < 0) r.flows[f].app_cpu = w->app_cpu();
        }
        if (r.samples.size() < w->samples.size()) r.samples.resize(w->samples.size());
        for (std::size_t i = 0; i < w->samples.size(); ++i) {
            r.samples[i].t = w->samples[i].t;
            r.samples[i].bytes += w->samples[i].bytes;
            r.samples[i].transactions += w->samples[i].transactions;
        }
        intervals.merge(w->intervals);
        r.rusage_user_s += w->rusage.user_s;
        r.rusage_system_s += w->rusage.system_s;
    }
    for (std::size_t i = 0; i < r.samples.size(); ++i) {
        r.samples[i].latency_p50_us = intervals.percentile_us(i, 50);
        r.samples[i].latency_p99_us = intervals.percentile_us(i, 99);
    }
    e.connect += setup_errors_.connect;
    e.read += setup_errors_.read;
    e.write += setup_errors_.write;
    e.timeout += setup_errors_.timeout;
    e.rejected_hello += setup_errors_.rejected_hello + rejected_hellos();
    if (cpu_begin_ && cpu_end_) {
        cpu_window w = cpu_delta_over(*cpu_begin_, *cpu_end_, r.seconds);
        r.cpu_total = w.total;
        r.cpus = std::move(w.cpus);
    }
    std::sort(carried.begin(), carried.end());
    carried.erase(std::unique(carried.begin(), carried.end()), carried.end());
    for (const auto& [wi, f] : carried)
        ++r.workers[wi].totals.flows;
    for (std::uint32_t f = 0; f < job_.flows; ++f)
        if (tcp_worker[f] < r.workers.size())
            r.workers[tcp_worker[f]].totals.total_retrans += r.flows[f].tcp.total_retrans;
    fold_flows(r, headline_figure(info(job_.kind).head), job_.flow_detail);
    r.placement_note = placement_note_;
    r.ktls_available = tls::ktls_available();
    if (!tls_stat_end_.empty()) {
        auto delta = tls::tls_stat_delta(tls_stat_begin_, tls_stat_end_);
        r.tls_stat = {delta.begin(), delta.end()};
    }
    return r;
}

} // namespace kp::engine
