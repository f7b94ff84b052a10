#include "runner/cli/cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "remote/agent.hpp"
#include "runner/cli/baseline.hpp"
#include "runner/cli/check.hpp"
#include "runner/cli/dry_run.hpp"
#include "runner/cli/report.hpp"
#include "runner/cli/run.hpp"
#include "runner/plan/plan.hpp"
#include "runner/plan/select.hpp"
#include "runner/plan/units.hpp"
#include "runner/results/compare.hpp"

namespace kp::runner {
namespace {

constexpr std::string_view subcommands[] = {"run",     "validate", "check",   "agent",
                                            "compare", "report",   "baseline"};

int validate_plans(const std::vector<std::string>& files) {
    int rc = exit_ok;
    for (const auto& f : files) {
        auto p = load_plan_file(f);
        if (p) {
            fmt::print("{}: ok\n", f);
            fmt::print("{}", format_setups(*p)); // what the plan would change and run on its hosts
        } else {
            fmt::print(stderr, "{}", p.error().text);
            rc = exit_usage;
        }
    }
    return rc;
}

/// --keepalive: `off`, or a duration of at least 1 ms.
parsed<std::chrono::milliseconds> parse_keepalive(std::string_view text) {
    if (text == "off") return std::chrono::milliseconds(0);
    auto d = parse_duration(text);
    auto ms = d ? std::chrono::duration_cast<std::chrono::milliseconds>(*d) : std::chrono::milliseconds(0);
    if (ms.count() < 1)
        return std::unexpected(
            fmt::format("expected off or a duration of at least 1ms such as 500ms or 5s, got '{}'", text));
    return ms;
}

/// Adds --keepalive to `cmd`; the text is parsed after the command line (keepalive_text).
void add_keepalive(CLI::App* cmd, std::string& text) {
    cmd->add_option(
        "--keepalive", text,
        "Ping each remote agent when nothing else was sent for this long (default 5s); after 4 times "
        "that without contact, the agent exits and its host is declared dead; off: never");
}

int run_command(const std::string& file, bool dry_run, run_options options) {
    auto p = load_plan_file(file, options.overrides);
    if (!p) {
        fmt::print(stderr, "{}", p.error().text);
        return exit_usage;
    }
    // --only: a pattern that matches nothing is the command line's mistake, before anything runs.
    auto chosen = select_instances(expand(*p), options.only);
    if (!chosen) {
        fmt::print(stderr, "kperf-plan: {}", chosen.error());
        return exit_usage;
    }
    if (dry_run) {
        fmt::print("{}", format_dry_run(*p, *chosen));
        return exit_ok;
    }
    return run_plan(*p, options);
}

int check_command(const std::string& file, const run_options& options) {
    auto p = load_plan_file(file);
    if (!p) {
        fmt::print(stderr, "{}", p.error().text);
        return exit_usage;
    }
    return check_plan(*p, options);
}

} // namespace

int run_cli(int argc, char** argv) {
    std::vector<std::string> args(argv, argv + argc);
    // `kperf-plan PLAN.yaml` is `kperf-plan run PLAN.yaml`.
    if (args.size() > 1 && !args[1].starts_with('-') &&
        std::find(std::begin(subcommands), std::end(subcommands), args[1]) == std::end(subcommands))
        args.insert(args.begin() + 1, "run");

    CLI::App app{"kperf-plan: declarative network performance test plans.\n"
                 "Exit codes: 0 ok, 1 expectations or regressions failed, 2 plan or usage wrong, "
                 "3 infrastructure failed.",
                 "kperf-plan"};
    app.set_version_flag("--version", std::string("kperf-plan 0.1.0"));
    app.require_subcommand(1);
    app.footer("`kperf-plan PLAN.yaml` is short for `kperf-plan run PLAN.yaml`.");

    std::vector<std::string> plans;
    auto* validate = app.add_subcommand("validate", "Check plans; print every error, or 'ok' per file");
    validate->add_option("plans", plans, "Plan files")->required();

    std::string plan_file;
    bool dry_run = false;
    run_options options;
    auto* run = app.add_subcommand("run", "Run a plan and write the reports");
    run->add_option("plan", plan_file, "Plan file")->required();
    run->add_flag("--dry-run", dry_run, "Print the expanded instances; contact nothing");
    run->add_option("-o,--output", options.output_dir,
                    "Report directory (default results/<plan>/<UTC time>/)");
    run->add_option("--junit", options.junit, "Also write JUnit XML to FILE");
    run->add_option("--baseline", options.baseline,
                    "Compare with an earlier results.json, or a `baseline` directory; regressions exit 1");
    run->add_option("--confirm", options.confirm,
                    "With --baseline: rerun regressed instances up to N times; fail only on a regression "
                    "that persists")
        ->check(CLI::Range(0, 20));
    run->add_option("--tolerance", options.tolerances,
                    "With --baseline: tolerance per metric, e.g. throughput_bps=5% or latency_p99=off "
                    "(repeatable; above the plan's gate:)");
    run->add_flag("--csv-repeats", options.csv_repeats, "One CSV row per repeat instead of per instance");
    run->add_option("--known-hosts", options.known_hosts, "known_hosts file (overrides the plan's)");
    run->add_flag("--accept-new-host-keys", options.accept_new_host_keys,
                  "Accept and record host keys not yet known (a changed key is never accepted)");
    run->add_option("--only", options.only,
                    "Run only the instances whose id matches this glob, e.g. 'rpc/*' (repeatable)");
    run->add_option("--set", options.overrides,
                    "Override a parameter for every scenario, e.g. duration=1s (repeatable; above the plan)");
    run->add_flag("-q,--quiet", options.quiet,
                  "No progress lines and no summary table; errors and the "
                  "report directory only");
    run->add_flag("-i,--interval", options.interval,
                  "While an instance runs, print a line per second: rate and that second's p50/p99");
    run->add_flag(
        "--json", options.json,
        "Write the results.jsonl lines to stdout as they are produced; human output goes to stderr");
    std::string keepalive_text;
    add_keepalive(run, keepalive_text);

    std::string check_file;
    run_options check_options;
    auto* check = app.add_subcommand(
        "check", "Preflight: start every agent, print its facts, check placements, probe each pair");
    check->add_option("plan", check_file, "Plan file")->required();
    check->add_option("--known-hosts", check_options.known_hosts, "known_hosts file (overrides the plan's)");
    check->add_flag("--accept-new-host-keys", check_options.accept_new_host_keys,
                    "Accept and record host keys not yet known (a changed key is never accepted)");
    std::string check_keepalive_text;
    add_keepalive(check, check_keepalive_text);

    auto* agent =
        app.add_subcommand("agent", "Serve the control protocol on stdin/stdout (started by the runner)");

    std::vector<std::string> compare_files, tolerances;
    auto* compare = app.add_subcommand(
        "compare", "Compare NEW with BASE (a results file, a `baseline` directory, or several runs to "
                   "calibrate on); regressions exit 1");
    compare->add_option("files", compare_files, "BASE... NEW: results files or directories")
        ->required()
        ->expected(2, 64);
    compare->add_option("--tolerance", tolerances,
                        "Tolerance per metric, e.g. throughput_bps=5% or latency_p99=off (repeatable)");

    std::string baseline_file;
    int baseline_runs = 5;
    run_options baseline_options;
    auto* baseline = app.add_subcommand(
        "baseline", "Calibrate: run a plan N times into DIR and keep its run-to-run noise for compare");
    baseline->add_option("plan", baseline_file, "Plan file")->required();
    baseline->add_option("--runs", baseline_runs, "How many runs (at least 3; default 5)");
    baseline->add_option("-o,--output", baseline_options.output_dir, "The baseline directory (new)")->required();
    baseline->add_option("--only", baseline_options.only, "Only the instances whose id matches this glob");
    baseline->add_option("--set", baseline_options.overrides, "Override a parameter, e.g. duration=1s");
    baseline->add_option("--known-hosts", baseline_options.known_hosts, "known_hosts file (overrides the plan's)");
    baseline->add_flag("--accept-new-host-keys", baseline_options.accept_new_host_keys,
                       "Accept and record host keys not yet known");
    baseline->add_flag("-q,--quiet", baseline_options.quiet, "No progress lines and no summary tables");

    std::string report_results, report_base, report_out;
    auto* report = app.add_subcommand("report", "Write the self-contained HTML report of a results file");
    report->add_option("results", report_results, "results.json, results.jsonl or a results directory")
        ->required();
    report->add_option("--baseline", report_base, "Compare with these earlier results in the report");
    report->add_option("-o,--output", report_out, "HTML file (default: report.html beside the results)");

    std::vector<char*> cargv;
    for (auto& a : args)
        cargv.push_back(a.data());
    try {
        app.parse(static_cast<int>(cargv.size()), cargv.data());
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_usage;
    }
    if (validate->parsed()) return validate_plans(plans);
    for (auto [text, into] :
         {std::pair{&keepalive_text, &options}, std::pair{&check_keepalive_text, &check_options}}) {
        if (text->empty()) continue;
        auto k = parse_keepalive(*text);
        if (!k) {
            fmt::print(stderr, "kperf-plan: --keepalive: {}\n", k.error());
            return exit_usage;
        }
        into->keepalive = *k;
    }
    if (check->parsed()) return check_command(check_file, check_options);
    if (agent->parsed()) return remote::agent_main();
    if (compare->parsed()) {
        std::vector<std::string> bases(compare_files.begin(), compare_files.end() - 1);
        return compare_main(bases, compare_files.back(), tolerances);
    }
    if (baseline->parsed()) {
        auto p = load_plan_file(baseline_file, baseline_options.overrides);
        if (!p) {
            fmt::print(stderr, "{}", p.error().text);
            return exit_usage;
        }
        baseline_options.argv.assign(argv, argv + argc);
        return baseline_plan(*p, baseline_runs, baseline_options);
    }
    if (report->parsed()) return report_main(report_results, report_base, report_out);
    options.argv.assign(argv, argv + argc);
    return run_command(plan_file, dry_run, options);
}

} // namespace kp::runner
