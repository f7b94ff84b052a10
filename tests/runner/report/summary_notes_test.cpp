#include <doctest/doctest.h>

#include <string>

#include "runner/report/summary.hpp"

using namespace kp;
using namespace kp::runner;

namespace {

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

host_record host(const std::string& name, const std::string& boot_id) {
    host_record h;
    h.name = name;
    h.environment = {{"kernel", "6.1"}, {"boot_id", boot_id}};
    return h;
}

} // namespace

TEST_CASE("summary notes: a side's placement note, once over the repeats") {
    run_record run;
    instance_record r;
    r.id = "rr";
    r.kind = engine::traffic::tcp_rr;
    r.client_host = "a";
    r.server_host = "b";
    repeat_record rep;
    rep.server.placement_note = "placement rx+2 wraps onto the Rx CPU itself: 2 CPUs are allowed (0-1)";
    r.repeats = {rep, rep};
    run.instances.push_back(r);
    const std::string table = summary_table(run);
    CHECK(count(table, "NOTE rr: server b: placement rx+2 wraps onto the Rx CPU itself: 2 CPUs are allowed "
                       "(0-1)\n") == 1);
    CHECK(table.find("NOTE rr: client") == std::string::npos);
}

TEST_CASE("summary notes: plan hosts on one kernel are noted once, with where each side's own CPU is") {
    run_record run;
    run.hosts = {host("a", "1b2c3d4e-0000-4000-8000-000000000001"),
                 host("b", "1b2c3d4e-0000-4000-8000-000000000001"),
                 host("c", "99999999-0000-4000-8000-000000000002"), host("d", "")};
    run.hosts.push_back(host_record{.name = "e"}); // failed before its manifest: no environment
    const std::string table = summary_table(run);
    CHECK(count(table, "NOTE hosts") == 1);
    CHECK(
        table.find("NOTE hosts a, b share one kernel (boot_id 1b2c3d4e): client_cpu_s and server_cpu_s each "
                   "count all of its CPUs, so the same CPU time shows as client and as server; a side's own "
                   "CPU is its rusage_user_s + rusage_system_s in results.json (process_cpu_s for via "
                   "hops)\n") != std::string::npos);
    run.hosts[1] = host("b", "77777777-0000-4000-8000-000000000003");
    CHECK(summary_table(run).find("NOTE hosts") == std::string::npos);
}
