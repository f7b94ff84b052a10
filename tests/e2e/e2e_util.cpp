#include "e2e_util.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include "netns_fixture.hpp"

#ifndef KP_SYS_PYTHON
#error "KP_SYS_PYTHON must name the python3 that has jsonschema"
#endif
#ifndef KP_RESULTS_CHECK
#error "KP_RESULTS_CHECK must name tests/e2e/results_check.py"
#endif

namespace kp::e2e {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    REQUIRE_MESSAGE(v, name << " is not set (run through meson test)");
    return v;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> out(1);
    for (char c : text) {
        if (c == sep)
            out.emplace_back();
        else
            out.back() += c;
    }
    return out;
}

scratch::scratch() {
    char tmpl[] = "/tmp/kperf-plan-e2e-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
}

scratch::~scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
}

fs::path scratch::write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
    return dir / name;
}

runner_process::runner_process(const std::vector<std::string>& args, fs::path log, const fs::path& cwd)
    : log_(std::move(log)) {
    std::vector<std::string> argv{env("KPERF_PLAN_BIN")};
    argv.insert(argv.end(), args.begin(), args.end());
    started_ = clock_type::now();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
        int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) ::_exit(127);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::unsetenv("SSH_AUTH_SOCK"); // a developer's ssh-agent must not change what is tried
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
        std::vector<char*> cargv;
        for (auto& a : argv)
            cargv.push_back(a.data());
        cargv.push_back(nullptr);
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
}

runner_process::~runner_process() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
}

bool runner_process::running() const {
    if (pid_ <= 0) return false;
    siginfo_t info{};
    // WNOWAIT: look without reaping, so wait() still gets the exit status.
    return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == 0;
}

int runner_process::wait(std::chrono::milliseconds limit) {
    auto end = clock_type::now() + limit;
    while (pid_ > 0) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            ended_ = clock_type::now();
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (clock_type::now() >= end) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
            pid_ = -1;
            return -1;
        }
        std::this_thread::sleep_for(20ms);
    }
    return -1;
}

std::smatch runner_process::await(const std::regex& re, std::chrono::milliseconds limit) {
    auto end = clock_type::now() + limit;
    std::smatch m;
    for (;;) {
        bool alive = running();
        text_ = slurp(log_);
        if (std::regex_search(text_, m, re)) return m;
        if (!alive || clock_type::now() >= end) return {};
        std::this_thread::sleep_for(20ms);
    }
}

void runner_process::signal(int sig) const {
    REQUIRE(pid_ > 0);
    REQUIRE(::kill(pid_, sig) == 0);
}

run_result run_kperf(const std::vector<std::string>& args, const fs::path& log,
                     std::chrono::milliseconds limit, const fs::path& cwd) {
    runner_process p(args, log, cwd);
    run_result r;
    r.code = p.wait(limit);
    r.log = p.log();
    r.seconds = p.seconds();
    return r;
}

json load_json(const fs::path& p) {
    json doc = json::parse(slurp(p), nullptr, false);
    REQUIRE_MESSAGE(!doc.is_discarded(), p.string() << " is not JSON");
    return doc;
}

std::vector<json> jsonl(const fs::path& p) {
    std::vector<json> out;
    std::size_t n = 0;
    for (const auto& line : lines_of(slurp(p))) {
        ++n;
        json v = json::parse(line, nullptr, false);
        CHECK_MESSAGE(!v.is_discarded(), p.string() << ":" << n << " is not JSON: " << line.substr(0, 200));
        if (!v.is_discarded()) out.push_back(std::move(v));
    }
    return out;
}

std::string schema_errors(const fs::path& dir) {
    std::string schema = env("KPERF_SOURCE_ROOT") + "/schemas/results.schema.json";
    int rc = -1;
    std::string out = kp::test::run_shell(std::string(KP_SYS_PYTHON) + " " + KP_RESULTS_CHECK + " '" +
                                              schema + "' '" + dir.string() + "' 2>&1",
                                          &rc);
    return rc == 0 ? std::string() : out + " (exit " + std::to_string(rc) + ")";
}

const json& instance_of(const json& doc, const std::string& id) {
    for (const auto& i : doc.at("instances"))
        if (i.at("id") == id) return i;
    FAIL("no instance '" << id << "' in the results");
    throw std::logic_error("unreachable"); // FAIL throws; this keeps the compiler content
}

std::vector<junit_case> junit_cases(const fs::path& p) {
    boost::property_tree::ptree tree;
    try {
        boost::property_tree::read_xml(p.string(), tree);
    } catch (const std::exception& e) {
        FAIL_CHECK(p.string() << " is not well-formed XML: " << e.what());
        return {};
    }
    std::vector<junit_case> out;
    auto suites = tree.get_child_optional("testsuites");
    CHECK_MESSAGE(suites.has_value(), p.string() << " has no <testsuites>");
    if (!suites) return out;
    for (const auto& [tag, suite] : *suites) {
        if (tag != "testsuite") continue;
        for (const auto& [ctag, tc] : suite) {
            if (ctag != "testcase") continue;
            junit_case c;
            c.name = tc.get<std::string>("<xmlattr>.name", "");
            if (auto f = tc.get_child_optional("failure")) {
                c.failure = true;
                c.message = f->get<std::string>("<xmlattr>.message", "");
            }
            if (auto e = tc.get_child_optional("error")) {
                c.error = true;
                c.message = e->get<std::string>("<xmlattr>.message", "");
            }
            out.push_back(c);
        }
    }
    return out;
}

std::vector<std::string> cmdline(pid_t pid) {
    std::string raw = slurp(fs::path("/proc") / std::to_string(pid) / "cmdline");
    if (raw.empty()) return {};
    if (raw.back() == '\0') raw.pop_back();
    return split(raw, '\0');
}

bool is_live_agent(pid_t pid) {
    auto argv = cmdline(pid);
    if (argv.size() < 2 || !argv[0].ends_with("kperf-plan") || argv[1] != "agent") return false;
    std::string stat = slurp(fs::path("/proc") / std::to_string(pid) / "stat");
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

std::set<pid_t> live_agents_of_test_binary() {
    const fs::path bin = env("KPERF_PLAN_BIN");
    std::set<pid_t> out;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        auto pid = static_cast<pid_t>(std::stol(name));
        std::error_code ec;
        if (is_live_agent(pid) && fs::read_symlink(e.path() / "exe", ec) == bin) out.insert(pid);
    }
    return out;
}

std::set<pid_t> announced_agents(const std::string& log) {
    static const std::regex re(R"(\bagent\[([0-9]+)\]: kperf-plan agent .* ready)");
    std::set<pid_t> out;
    for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
        out.insert(static_cast<pid_t>(std::stol((*it)[1])));
    return out;
}

run_result run_plan(const kp::test::netns_hosts& f, const scratch& s, const std::string& text,
                    std::chrono::milliseconds limit) {
    auto plan = s.write("plan.yaml", text);
    return run_kperf({plan.string(), "-o", (s / "out").string(), "--known-hosts", f.known_hosts()}, s / "log",
                     limit);
}

double metric_of(const json& inst, const std::string& m) {
    const auto& ms = inst["aggregate"]["metrics"];
    REQUIRE_MESSAGE(ms.contains(m), inst["id"].get<std::string>() << " has no " << m);
    return ms[m]["value"].get<double>();
}

bool skip_without_netns() {
    std::string why = kp::test::netns_hosts::unavailable_reason();
    if (why.empty()) return false;
    kp::test::skip("needs network namespaces with sshd: " + why);
    return true;
}

} // namespace kp::e2e
