#include "engine/session/acceptor.hpp"

#include <algorithm>
#include <cerrno>
#include <memory>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "engine/core/clock.hpp"
#include "engine/core/fd_limit.hpp"
#include "engine/core/hello.hpp"

namespace kp::engine {

struct acceptor::pending {
    unique_fd fd;
    unique_fd udp;
    std::int64_t deadline = 0;
    int stage = 0; // 0: reading the hello, 1: reading the verdict
    std::size_t have = 0;
    int rx_cpu = -1;
    std::byte buf[hello_fixed_size + hello_max_token]{};
};

acceptor::acceptor(int listen_fd, acceptor_config cfg) : listen_fd_(listen_fd), cfg_(std::move(cfg)) {
    taken_.assign(std::size_t{cfg_.flows} * cfg_.per_flow, false);
}

acceptor::~acceptor() {
    stop();
}

result<void> acceptor::start() {
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return fail(errno_error("epoll_create1"));
    stop_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!stop_fd_) return fail(errno_error("eventfd"));
    epoll_event e{EPOLLIN, {.u64 = 0}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, stop_fd_.get(), &e) != 0)
        return fail(errno_error("epoll_ctl"));
    e = {EPOLLIN, {.u64 = 1}};
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_fd_, &e) != 0) return fail(errno_error("epoll_ctl"));
    thread_ = std::thread([this] { body(); });
    return {};
}

void acceptor::stop() noexcept {
    if (thread_.joinable()) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_fd_.get(), &one, sizeof one);
        thread_.join();
    }
}

void acceptor::abort(std::string why) {
    {
        std::lock_guard lock(mu_);
        if (aborted_) return;
        aborted_ = true;
        failure_ = as_consequence(make_error(std::move(why)));
    }
    cv_.notify_all();
}

void acceptor::give_up(error why) noexcept {
    // Every flow takes a TCP connection (and, UDP kinds, a UDP socket) on this side.
    const std::size_t per_side = taken_.size() * (cfg_.udp ? 2 : 1);
    if (out_of_descriptors(why.sys_errno)) why = with_fd_limit(std::move(why), cfg_.flows, per_side);
    {
        std::lock_guard lock(mu_);
        if (!aborted_) {
            aborted_ = true;
            failure_ = std::move(why);
        }
    }
    gave_up_ = true;
    cv_.notify_all();
}

result<std::vector<accepted_conn>> acceptor::wait_all(std::int64_t deadline_ns) {
    std::unique_lock lock(mu_);
    const std::size_t want = taken_.size();
    auto until = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(deadline_ns));
    cv_.wait_until(lock, until, [&] { return aborted_ || kept_.size() == want; });
    if (aborted_) return fail(failure_);
    if (kept_.size() != want)
        return fail(
            fmt::format("{} of {} data connections established before the deadline ({} refused hellos)",
                        kept_.size(), want, rejected_.load()));
    std::vector<accepted_conn> out = std::move(kept_);
    kept_.clear();
    std::sort(out.begin(), out.end(), [](const accepted_conn& a, const accepted_conn& b) {
        return a.flow != b.flow ? a.flow < b.flow : a.slot < b.slot;
    });
    return out;
}

bool acceptor::advance(pending& p) noexcept {
    const std::size_t hello_len = hello_fixed_size + cfg_.token.size();
    const std::size_t need = p.stage == 0 ? hello_len : decision_size;
    ssize_t n = ::recv(p.fd.get(), p.buf + p.have, need - p.have, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
    if (n <= 0) {
        // Closing before a complete hello is a refused connection; closing while the client
        // decides is how an over-opened candidate may also go away.
        if (p.stage == 0) ++rejected_;
        return false;
    }
    p.have += static_cast<std::size_t>(n);
    if (p.stage == 0) {
        hello h;
        std::size_t used = 0;
        auto r = parse_hello({p.buf, p.have}, cfg_.token, h, used);
        if (r == hello_parse::incomplete) return true;
        if (r != hello_parse::ok || h.purpose != hello_purpose::data) {
            ++rejected_;
            return false;
        }
        p.rx_cpu = incoming_cpu(p.fd.get());
        hello_reply reply{0, p.rx_cpu};
        if (cfg_.udp) {
            auto local = local_address(p.fd.get());
            auto peer = peer_address(p.fd.get());
            if (!local || !peer) return false;
            local->set_port(0);
            peer->set_port(h.udp_port);
            auto udp = bind_udp(*local, cfg_.options);
            if (!udp) {
                if (out_of_descriptors(udp.error().sys_errno)) give_up(udp.error().context("UDP socket"));
                return false;
            }
            if (::connect(udp->get(), peer->get(), peer->len) != 0) return false;
            reply.udp_port = local_port(udp->get());
            p.udp = std::move(*udp);
        }
        std::byte out[reply_size];
        encode_reply(reply, std::span<std::byte, reply_size>(out, reply_size));
        if (!write_all(p.fd.get(), out, mono_ns() + 1'000'000'000)) return false;
        p.stage = 1;
        p.have = 0;
        p.deadline = INT64_MAX; // the client may take a while to decide (distinct_rx)
        return true;
    }
    if (p.have < decision_size) return true;
    decision d;
    if (!parse_decision(std::span<const std::byte, decision_size>(p.buf, decision_size), d)) {
        ++rejected_;
        return false;
    }
    if (d.what == verdict::drop) return false;
    std::lock_guard lock(mu_);
    if (d.what == verdict::abort) {
        aborted_ = true;
        failure_ = as_consequence(
            make_error("the client aborted establishing the data connections (its error says why)"));
        cv_.notify_all();
        return false;
    }
    std::size_t key = std::size_t{d.flow} * cfg_.per_flow + d.slot;
    if (d.flow >= cfg_.flows || d.slot >= cfg_.per_flow || taken_[key]) {
        ++rejected_;
        return false;
    }
    taken_[key] = true;
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, p.fd.get(), nullptr);
    kept_.push_back({std::move(p.fd), std::move(p.udp), d.flow, d.slot, p.rx_cpu, d.rx_cpu});
    cv_.notify_all();
    return false;
}

void acceptor::body() noexcept {
    // Pending connections by slot; the epoll tag is slot + 2 (0: stop, 1: listener).
    std::vector<std::unique_ptr<pending>> slots;
    epoll_event events[64];
    for (;;) {
        int n = epoll_wait(epoll_.get(), events, 64, 50);
        std::int64_t now = mono_ns();
        for (int i = 0; i < n; ++i) {
            std::uint64_t tag = events[i].data.u64;
            if (tag == 0) return; // pending connections close with `slots`
            if (tag == 1) {
                for (int k = 0; k < 64; ++k) {
                    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                    if (fd < 0) {
                        // Out of descriptors, the listener stays readable: accepting again would
                        // spin, and the client would wait out its deadline on a hello no one reads.
                        if (out_of_descriptors(errno)) give_up(errno_error("accept"));
                        break;
                    }
                    auto p = std::make_unique<pending>();
                    p->fd.reset(fd);
                    p->deadline = now + cfg_.hello_timeout_ns;
                    auto it = std::find(slots.begin(), slots.end(), nullptr);
                    std::size_t idx = static_cast<std::size_t>(it - slots.begin());
                    epoll_event e{EPOLLIN, {.u64 = idx + 2}};
                    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &e) != 0) continue;
                    if (it == slots.end())
                        slots.push_back(std::move(p));
                    else
                        *it = std::move(p);
                }
                continue;
            }
            std::size_t idx = tag - 2;
            if (idx < slots.size() && slots[idx] && !advance(*slots[idx])) slots[idx].reset();
        }
        if (gave_up_.exchange(false)) {
            // The client's pending hellos end now (closed), the queued connections are reset and
            // new ones refused (the listener is shut), so its establish fails at once, not at
            // its deadline.
            slots.clear();
            epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listen_fd_, nullptr);
            ::shutdown(listen_fd_, SHUT_RDWR);
        }
        for (auto& p : slots) {
            if (p && now >= p->deadline) { // no complete hello in time
                ++rejected_;
                p.reset();
            }
        }
    }
}

} // namespace kp::engine
