// Matrices that say what users mean: message_size, include/exclude, and YAML merge keys.
#include <doctest/doctest.h>

#include <string>

#include "plan/plan_errors.hpp"
#include "runner/cli/dry_run.hpp"
#include "runner/plan/expand.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

namespace {
plan must_load(std::string_view text) {
    auto p = load_plan("x.yaml", text);
    REQUIRE_MESSAGE(p.has_value(), (p ? "" : p.error().text));
    return *p;
}
constexpr std::string_view head = R"(version: 1
hosts:
  me: {}
defaults: {client: me, server: me}
scenarios:
)";
std::string with(std::string_view scenarios) {
    return std::string(head) + std::string(scenarios);
}
std::vector<std::string> ids(const std::vector<instance>& in) {
    std::vector<std::string> out;
    for (const auto& i : in)
        out.push_back(i.id);
    return out;
}
} // namespace

TEST_CASE("matrix: message_size sets both sizes of the exchange; a size written beside it is an error") {
    auto p = must_load(with(R"(  - name: rr
    traffic: tcp_rr
    matrix: {message_size: [64, 1KiB, 16KiB]}
  - name: s
    traffic: tcp_stream
    message_size: 16KiB
)"));
    auto in = expand(p);
    REQUIRE(in.size() == 4);
    CHECK(in[1].id == "rr/message_size=1KiB");
    CHECK(in[1].job.request_size == 1024);
    CHECK(in[1].job.response_size == 1024);
    CHECK(in[3].job.write_size == 16384);
    CHECK(in[3].job.read_size == 16384);
    auto dry = format_dry_run(p);
    CHECK(dry.find("[2/4] rr/message_size=1KiB\n") != std::string::npos);
    CHECK(dry.find("    request_size: 1KiB\n    response_size: 1KiB\n") != std::string::npos);

    CHECK(errors_of(with(R"(  - name: both
    traffic: tcp_rr
    message_size: 1KiB
    request_size: 64
)")) == "x.yaml:9:19: 'request_size' and 'message_size' are both set; message_size sets request_size and "
        "response_size together\n"
        "    request_size: 64\n"
        "                  ^\n");
    // defaults' message_size gives way to a scenario's own size.
    auto q = must_load(std::string(R"(version: 1
hosts:
  me: {}
defaults: {client: me, server: me, message_size: 4KiB}
scenarios:
  - name: rr
    traffic: tcp_rr
    request_size: 64
)"));
    auto qi = expand(q);
    CHECK(qi[0].job.request_size == 64);
    CHECK(qi[0].job.response_size == 4096);
}

TEST_CASE("matrix: exclude drops combinations, include adds tied ones; both are checked") {
    auto p = must_load(with(R"(  - name: rr
    traffic: tcp_rr
    matrix:
      request_size: [64, 1KiB]
      in_flight: [1, 16]
      exclude: [{request_size: 1KiB, in_flight: 16}]
      include: [{request_size: 16KiB, response_size: 16KiB}]
  - name: tied
    traffic: tcp_rr
    matrix:
      include: [{request_size: 64, response_size: 64}, {request_size: 1KiB, response_size: 8KiB}]
)"));
    auto in = expand(p);
    CHECK(ids(in) == std::vector<std::string>{
                         "rr/request_size=64,in_flight=1", "rr/request_size=64,in_flight=16",
                         "rr/request_size=1KiB,in_flight=1", "rr/request_size=16KiB,response_size=16KiB",
                         "tied/request_size=64,response_size=64",
                         "tied/request_size=1KiB,response_size=8KiB"});
    CHECK(in[3].job.response_size == 16384);
    CHECK(in[5].job.response_size == 8192);

    auto e = errors_of(with(R"(  - name: rr
    traffic: tcp_rr
    matrix:
      request_size: [64, 1KiB]
      exclude: [{request_size: 4KiB}, {in_flght: 2}, {in_flight: 2}]
      include: [{reqest_size: 9}]
)"));
    CHECK(e.find("x.yaml:10:17: matrix exclude: this entry matches no combination of the matrix") !=
          std::string::npos);
    CHECK(e.find("x.yaml:10:40: unknown key 'in_flght', did you mean 'in_flight'?") != std::string::npos);
    CHECK(
        e.find(
            "x.yaml:10:66: matrix exclude: 'in_flight' is not an axis of this matrix (axes: request_size)") !=
        std::string::npos);
    CHECK(e.find("x.yaml:10:54") == std::string::npos); // not also "matches no combination"
    CHECK(e.find("x.yaml:11:18: unknown key 'reqest_size', did you mean 'request_size'?") !=
          std::string::npos);
}

TEST_CASE("plan: YAML merge keys work, and errors in merged text point where it was written") {
    auto p = must_load(R"(version: 1
hosts:
  me: {}
x-base: &base
  traffic: tcp_rr
  client: me
  server: me
  request_size: 64
scenarios:
  - <<: *base
    name: a
    response_size: 1KiB
  - <<: [*base]
    name: b
    request_size: 128
)");
    auto in = expand(p);
    REQUIRE(in.size() == 2);
    CHECK(in[0].job.request_size == 64);
    CHECK(in[0].job.response_size == 1024);
    CHECK(in[1].job.request_size == 128); // written here: it beats the merged value
    CHECK(errors_of(R"(version: 1
hosts:
  me: {}
x-base: &base
  traffic: tcp_rr
  request_size: 64x
scenarios:
  - <<: *base
    name: a
    client: me
    server: me
)") == "x.yaml:6:17: request_size: expected a size such as 64, 4KiB, 1MiB or 1MB, got '64x'\n"
       "  request_size: 64x\n"
       "                ^\n");
}
