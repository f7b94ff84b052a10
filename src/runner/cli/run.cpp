#include "runner/cli/run.hpp"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/resource.h>

#include "remote/capabilities.hpp"
#include "runner/cli/cli.hpp"
#include "runner/orchestrate/hosts.hpp"
#include "runner/orchestrate/orchestrate.hpp"
#include "runner/orchestrate/repeat.hpp"
#include "runner/plan/expand.hpp"
#include "runner/plan/select.hpp"
#include "runner/report/csv.hpp"
#include "runner/report/files.hpp"
#include "runner/report/html.hpp"
#include "runner/report/json.hpp"
#include "runner/report/junit.hpp"
#include "runner/report/progress.hpp"
#include "runner/report/summary.hpp"
#include "runner/results/calibrate.hpp"
#include "runner/results/compare.hpp"

namespace kp::runner {
namespace {

extern "C" void on_interrupt(int sig) {
    // A second Ctrl-C means "now": no cleanup, the agents die with their control streams.
    if (interrupt_requested.exchange(true) && sig == SIGINT) _exit(130);
    interrupt_signal = sig;
    static const char msg[] = "\nkperf-plan: interrupted: stopping traffic and writing reports "
                              "(Ctrl-C again to exit at once)\n";
    ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

/// Installs the interrupt handlers for the lifetime of a run.
class signal_scope {
  public:
    signal_scope() {
        interrupt_requested = false;
        interrupt_signal = 0;
        struct sigaction sa {};
        sa.sa_handler = on_interrupt;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int_);
        sigaction(SIGTERM, &sa, &old_term_);
        struct sigaction ign {};
        ign.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &ign, &old_pipe_); // a dead agent's pipe is an error value, not a signal
    }
    ~signal_scope() {
        sigaction(SIGINT, &old_int_, nullptr);
        sigaction(SIGTERM, &old_term_, nullptr);
        sigaction(SIGPIPE, &old_pipe_, nullptr);
    }

  private:
    struct sigaction old_int_ {
    }, old_term_{}, old_pipe_{};
};

std::string sha256_hex(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned i = 0; i < len; ++i)
        hex += fmt::format("{:02x}", md[i]);
    return hex;
}

nlohmann::json plan_model(const plan& p, const std::vector<instance>& instances) {
    nlohmann::json hosts = nlohmann::json::object();
    for (const auto& h : p.hosts) {
        hosts[h.name] = {{"ssh", h.ssh ? nlohmann::json(h.ssh->str()) : nlohmann::json(nullptr)},
                         {"address", h.address}};
        if (!h.exec.empty()) hosts[h.name]["exec"] = h.exec;
    }
    auto entry = [](const instance& i) {
        nlohmann::json params = nlohmann::json::object();
        for (const auto& [k, v] : i.params)
            params[k] = v;
        nlohmann::json e = {{"id", i.id},         {"scenario", i.scenario}, {"client", i.client},
                            {"server", i.server}, {"repeat", i.repeat},     {"params", params}};
        return e;
    };
    nlohmann::json list = nlohmann::json::array();
    for (const auto& i : instances) {
        list.push_back(entry(i));
        if (!i.is_group()) continue;
        list.back()["members"] = nlohmann::json::array(); // a group: its members, each as an instance
        for (const auto& m : i.members)
            list.back()["members"].push_back(entry(m));
    }
    return {{"hosts", hosts}, {"instances", list}, {"overrides", p.override_text}};
}

/// The files of one run, rewritten as it goes.
struct report_files {
    std::string dir;
    bool csv_repeats = false;
    jsonl_writer jsonl;
    progress* prog = nullptr;
    results_json_text json_text; ///< each instance serialized once, as it finishes
    html_report html;            ///< report.html: each instance condensed once, as it finishes

    bool stream = false; ///< --json: each results.jsonl line to stdout as well

    /// Report writes that failed (a full disk, a read-only mount): the run then exits 3.
    mutable std::size_t failed_writes = 0;
    mutable std::string first_failure;

    void warn(const result<void>& r) const {
        if (r) return;
        if (failed_writes++ == 0) first_failure = r.error().message;
        if (prog) prog->log("kperf-plan: warning: " + r.error().message);
    }
    /// One results.jsonl line: appended and synced, and with --json written to stdout.
    void line(const nlohmann::json& j) {
        warn(jsonl.append(j));
        if (!stream) return;
        std::string text = j.dump();
        text += '\n';
        std::fwrite(text.data(), 1, text.size(), stdout);
        std::fflush(stdout);
    }
    /// Appends a finished instance to results.jsonl and rewrites results.json and results.csv.
    void finished(const run_record& run, const instance_record& rec) {
        // The agents' replies were parsed and freed on other threads' malloc arenas; give that
        // back before the instance's own JSON is built (matters with flow_detail on many flows).
        ::malloc_trim(0);
        {
            const nlohmann::json j = instance_json(rec); // freed before the rewrite
            line(j);
            json_text.add(j);
            html.add(j);
        }
        rewrite(run);
    }
    void rewrite(const run_record& run) const {
        warn(write_file_atomic(dir + "/results.json", json_text.text(run)));
        warn(write_file_atomic(dir + "/results.csv",
                               csv_text(run, csv_repeats ? csv_rows::repeats : csv_rows::aggregate)));
        warn(write_file_atomic(dir + "/results-samples.csv", samples_csv_text(run)));
        // Instances never add()ed (skipped ones are not persisted) are condensed here, as text() does.
        std::vector<nlohmann::json> rest;
        for (std::size_t i = html.size(); i < run.instances.size(); ++i)
            rest.push_back(instance_json(run.instances[i]));
        warn(write_file_atomic(dir + "/report.html", html.text(run_json_frame(run), rest)));
    }
};

/// run --baseline B --confirm N: reruns the instances that regressed, up to N times, and keeps
/// a regression only where the same metric of the same instance regressed on every attempt;
/// the rest become "not confirmed". Every attempt's records are kept in the comparison (and in
/// results.jsonl as "attempt" lines), beside the first run's.
void confirm_regressions(const plan& p, const std::vector<instance>& instances, agent_pool& pool,
                         progress& prog, const run_record& run, const baseline_source& baseline,
                         const tolerance_map& tolerances, int confirm, report_files& files,
                         comparison_report& report) {
    for (int k = 1; k <= confirm && !interrupt_requested; ++k) {
        const std::vector<std::string> ids = report.regressed_instances();
        if (ids.empty()) return;
        // A member regressed: its whole group runs again (members share one window).
        auto wanted = [&](const instance& i) {
            return std::any_of(ids.begin(), ids.end(), [&](const std::string& id) {
                return id == i.id || id.starts_with(i.id + "/");
            });
        };
        std::vector<instance> again;
        for (const auto& i : instances)
            if (wanted(i)) again.push_back(i);
        if (again.empty()) return;
        prog.note(fmt::format("kperf-plan: confirming {} regressed instance(s), attempt {} of {}: {}", ids.size(),
                              k, confirm, join_ids(ids)));
        run_record attempt;
        attempt.hosts = run.hosts;
        confirmation_attempt a;
        a.attempt = k;
        run_instances(p, again, pool, prog, attempt, [&](const instance_record& rec) {
            nlohmann::json record = instance_json(rec); // serialized once: kept, and written as a line
            a.instances.push_back(record);
            record["type"] = "attempt";
            record["attempt"] = k;
            files.line(record);
        });
        const comparison_report rerun =
            compare_results(baseline.doc, run_json(attempt), tolerances, baseline.cal.get());
        confirm_with(report, rerun, std::move(a));
    }
}

int exit_code_of(const run_record& run, bool regressed) {
    if (run.status == run_status::interrupted) return 130;
    bool failed = false, expect_failed = false;
    for (const auto& i : run.instances) {
        failed = failed || i.status == instance_status::failed;
        expect_failed = expect_failed || i.status == instance_status::expect_failed;
    }
    if (failed) return exit_infrastructure;
    return expect_failed || regressed ? exit_failed : exit_ok;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < text.size()) {
        auto nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size();
        out.push_back(text.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

/// This process's peak resident memory so far, KiB.
long max_rss_kib() {
    rusage u{};
    return ::getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss : 0;
}

} // namespace

int run_plan(const plan& p, const run_options& options) {
    signal_scope signals;
    auto chosen = select_instances(expand(p), options.only);
    if (!chosen) {
        fmt::print(stderr, "kperf-plan: {}", chosen.error());
        return exit_usage;
    }
    auto instances = std::move(*chosen);
    // --json: stdout carries the results.jsonl lines, so everything for humans goes to stderr.
    std::FILE* human = options.json ? stderr : stdout;
    baseline_source baseline;
    auto tolerances = parse_tolerances(options.tolerances);
    if (!tolerances) {
        fmt::print(stderr, "kperf-plan: {}\n", tolerances.error().message);
        return exit_usage;
    }
    if (!options.baseline.empty()) {
        auto b = load_baseline({options.baseline});
        if (!b) {
            fmt::print(stderr, "kperf-plan: --baseline: {}\n", b.error().message);
            return exit_usage;
        }
        baseline = std::move(*b);
        // A baseline of another plan would compare nothing and report "no regression".
        nlohmann::json planned = {{"instances", nlohmann::json::array()}};
        for (const auto& i : instances) {
            nlohmann::json e = {{"id", i.id}};
            if (i.is_group()) {
                e["group"] = {{"members", nlohmann::json::array()}};
                for (const auto& m : i.members)
                    e["group"]["members"].push_back({{"id", m.id}});
            }
            planned["instances"].push_back(std::move(e));
        }
        if (auto none = nothing_matched(baseline.doc, planned)) {
            fmt::print(stderr, "kperf-plan: --baseline {}: {}\n", options.baseline, *none);
            return exit_usage;
        }
    } else if (options.confirm > 0) {
        fmt::print(stderr, "kperf-plan: --confirm needs --baseline\n");
        return exit_usage;
    }
    auto now = std::chrono::system_clock::now();
    auto dir = make_output_dir(p.name, options.output_dir, now);
    if (!dir) {
        fmt::print(stderr, "kperf-plan: {}\n", dir.error().message);
        return exit_usage;
    }
    // Held to the end of the run: a second run into the same directory is refused at once.
    auto claim = output_dir_claim::take(*dir);
    if (!claim) {
        fmt::print(stderr, "kperf-plan: {}\n", claim.error().message);
        return exit_usage;
    }

    run_record run;
    run.plan_name = p.name;
    run.plan_file = p.file;
    run.plan_text = p.source;
    run.plan_sha256 = sha256_hex(p.source);
    run.plan = plan_model(p, instances);
    run.tool_version = remote::build_id();
    run.command_line = options.argv;
    run.started_at = utc_iso8601(now);

    std::chrono::nanoseconds estimate{0};
    for (const auto& i : instances)
        estimate += planned_time(i);
    progress prog(human, ::isatty(::fileno(human)) == 1, instances.size(), estimate, options.quiet);
    report_files files{*dir, options.csv_repeats, {}, &prog};
    files.stream = options.json;
    prog.set_interval(options.interval);
    if (auto r = files.jsonl.open(*dir + "/results.jsonl"); !r) {
        fmt::print(stderr, "kperf-plan: {}\n", r.error().message);
        return exit_usage;
    }
    prog.note(
        fmt::format("kperf-plan: plan {}: {} instance(s); reports in {}", p.name, instances.size(), *dir));

    std::set<std::string> needed;
    for (const instance* i : pair_instances(instances)) {
        needed.insert({i->client, i->server});
        needed.insert(i->via.begin(), i->via.end()); // proxy hosts run forwarders
    }
    for (const auto& i : instances) // the hosts a setup changes, even those without traffic
        if (const setup_def* s = p.find_setup(i.setup))
            for (const auto& h : s->hosts)
                needed.insert(h.host);
    std::string executable = std::filesystem::read_symlink("/proc/self/exe").string();
    const auto setup_began = std::chrono::steady_clock::now();
    agent_pool pool = open_agents(p, needed, options, executable, [&prog](const std::string& l) {
        // An agent's routine lines (ready, shutting down) are notes; anything else is news.
        bool routine = l.find(" ready (protocol ") != std::string::npos ||
                       l.find("shutdown requested: ") != std::string::npos;
        routine ? prog.note(l) : prog.log(l);
    });
    run.agents_setup_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_began).count();
    run.hosts = pool.hosts;
    for (const auto& h : run.hosts)
        if (h.failure)
            prog.log(fmt::format("kperf-plan: host {}: {}: {}", h.name, h.failure->step, h.failure->error));

    if (auto bad = check_placements(p, instances, pool); !bad.empty()) {
        prog.finish();
        fmt::print(stderr, "{}", bad);
        pool.shutdown();
        // Nothing ran: leave no empty results.jsonl behind, nor the default directory made for it.
        std::error_code ec;
        std::filesystem::remove(*dir + "/results.jsonl", ec);
        if (options.output_dir.empty()) {
            claim->remove();
            std::filesystem::remove(*dir, ec);
            std::filesystem::remove(std::filesystem::path(*dir).parent_path(), ec); // only when empty
        }
        return exit_usage;
    }

    files.line(run_header_json(run));
    files.rewrite(run);
    run_instances(p, instances, pool, prog, run, [&](const instance_record& rec) {
        run.max_rss_kib = max_rss_kib();
        files.finished(run, rec);
    });
    bool regressed = false;
    std::string comparison_text;
    if (!baseline.doc.is_null() && !interrupt_requested) {
        auto report = compare_results(baseline.doc, run_json(run), *tolerances, baseline.cal.get());
        confirm_regressions(p, instances, pool, prog, run, baseline, *tolerances, options.confirm, files, report);
        regressed = report.regressed();
        run.baseline = report;
        comparison_text = format_comparison(report);
    }
    pool.shutdown();
    prog.finish();

    if (interrupt_requested)
        run.status = run_status::interrupted;
    else if (run.status == run_status::running)
        run.status = run_status::complete;
    run.finished_at = utc_iso8601(std::chrono::system_clock::now());
    run.max_rss_kib = max_rss_kib();
    const int code = exit_code_of(run, regressed);
    run.exit_code = code;
    files.rewrite(run);
    if (!options.junit.empty()) files.warn(write_file_atomic(options.junit, junit_xml(run)));

    if (!options.quiet) fmt::print(human, "\n{}", summary_table(run));
    if (!comparison_text.empty() && (!options.quiet || regressed))
        fmt::print(human, "\nbaseline {}:\n{}", options.baseline, comparison_text);
    if (options.quiet) // what failed, still: the summary's FAIL/ERROR lines
        for (const auto& l : lines_of(summary_table(run)))
            if (l.starts_with("FAIL ") || l.starts_with("ERROR ")) fmt::print(stderr, "{}\n", l);
    fmt::print(human, "reports: {}\n", *dir);
    // Results that did not reach the disk are not results: never exit 0 (or 1) without them.
    if (files.failed_writes > 0) {
        fmt::print(stderr, "kperf-plan: reports are incomplete: {} write(s) failed; the first: {}\n",
                   files.failed_writes, files.first_failure);
        if (code != 130) return exit_infrastructure;
    }
    return code;
}

} // namespace kp::runner
