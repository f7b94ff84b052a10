#include "runner/report/progress.hpp"

#include <fmt/format.h>

#include "engine/traffic/traffic.hpp"
#include "runner/plan/human.hpp"

namespace kp::runner {

using namespace std::chrono;

progress::progress(std::FILE* out, bool live, std::size_t total, nanoseconds estimate, bool quiet)
    : out_(out), live_(live && !quiet), total_(total), remaining_planned_(estimate),
      started_(steady_clock::now()), quiet_(quiet) {}

std::string progress::clock_text(seconds s) {
    auto t = s.count() < 0 ? 0 : s.count();
    if (t >= 3600) return fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
    return fmt::format("{}:{:02}", t / 60, t % 60);
}

void progress::clear_locked() {
    if (live_ && drawn_) fmt::print(out_, "\r\033[K");
    drawn_ = false;
}

void progress::draw_locked() {
    if (!live_ || k_ == 0) return;
    auto now = steady_clock::now();
    auto elapsed = duration_cast<seconds>(now - started_);
    // Remaining: what is planned for the instances after this one, plus what is left of this one.
    auto in_this = duration_cast<nanoseconds>(now - instance_started_);
    auto left =
        remaining_planned_ + (current_planned_ > in_this ? current_planned_ - in_this : nanoseconds(0));
    std::string line =
        fmt::format("[{}/{}] {}  repeat {}/{}  elapsed {}  remaining ~{}", k_, total_, id_, repeat_ + 1,
                    repeats_, clock_text(elapsed), clock_text(duration_cast<seconds>(left)));
    fmt::print(out_, "\r\033[K{}", line);
    std::fflush(out_);
    drawn_ = true;
}

void progress::begin(std::size_t k, const std::string& id, nanoseconds planned) {
    std::lock_guard lock(mutex_);
    k_ = k;
    id_ = id;
    repeat_ = 0;
    repeats_ = 1;
    current_planned_ = planned;
    remaining_planned_ = remaining_planned_ > planned ? remaining_planned_ - planned : nanoseconds(0);
    instance_started_ = steady_clock::now();
    if (!live_ && !quiet_) {
        fmt::print(out_, "[{}/{}] {} ...\n", k, total_, id);
        std::fflush(out_);
    }
    draw_locked();
}

void progress::repeat(std::size_t r, std::size_t of) {
    std::lock_guard lock(mutex_);
    repeat_ = r;
    repeats_ = of;
    draw_locked();
}

void progress::tick() {
    std::lock_guard lock(mutex_);
    draw_locked();
}

void progress::end(const instance_record& r) {
    std::lock_guard lock(mutex_);
    clear_locked();
    current_planned_ = nanoseconds(0);
    if (quiet_) return;
    std::string status = r.status == instance_status::ok ? "ok" : to_string(r.status);
    std::string tail = r.failure ? fmt::format(" ({})", describe(*r.failure)) : std::string();
    fmt::print(out_, "[{}/{}] {}: {}, {} repeat{}, {}{}\n", k_, total_, r.id, status, r.repeats.size(),
               r.repeats.size() == 1 ? "" : "s", headline(r), tail);
    std::fflush(out_);
    current_planned_ = nanoseconds(0);
    draw_locked();
}

void progress::log(const std::string& line) {
    std::lock_guard lock(mutex_);
    clear_locked();
    fmt::print(out_, "{}\n", line);
    draw_locked();
}

void progress::note(const std::string& line) {
    if (!quiet_) log(line);
}

void progress::finish() {
    std::lock_guard lock(mutex_);
    clear_locked();
    k_ = 0;
    std::fflush(out_);
}

std::string headline(engine::traffic kind, const metric_values& v, bool group) {
    std::string s;
    auto add = [&s](std::string part) { s += (s.empty() ? "" : " ") + part; };
    auto get = [&v](metric m) { return v[static_cast<std::size_t>(m)]; };
    // A group: its total goodput first, whatever its members are.
    bool rr = !group && !engine::info(kind).stream();
    if (auto m = get(metric::connections_per_s)) add(human_rate(*m, "conn"));
    if (auto m = get(metric::transactions_per_s)) add(human_rate(*m, "tx"));
    if (auto m = get(metric::throughput_bps); m && !rr) add(human_bit_rate(*m));
    if (auto m = get(metric::latency_p50)) add("p50 " + human_us(*m));
    if (auto m = get(metric::latency_p99)) add("p99 " + human_us(*m));
    if (auto m = get(metric::loss_ratio)) add("loss " + human_percent(*m));
    if (auto m = get(metric::fairness); m && group) add(fmt::format("fair {:.3f}", *m));
    return s.empty() ? "-" : s;
}

std::string headline(const instance_record& r) {
    metric_values v;
    for (const auto& m : r.aggregate.metrics)
        v[static_cast<std::size_t>(m.which)] = m.value;
    return headline(r.kind, v, r.is_group());
}

} // namespace kp::runner
