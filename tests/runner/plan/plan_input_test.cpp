// Hostile inputs: each must give a clear error, never a crash or a hang.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

#include "plan/plan_errors.hpp"
#include "runner/plan/plan.hpp"

using namespace kp::runner;
using kp::runner::test::errors_of;

TEST_CASE("plan input: empty file") {
    const std::string msg =
        "x.yaml: empty plan: expected a mapping with 'version: 1', 'hosts' and 'scenarios'\n";
    CHECK(errors_of("") == msg);
    CHECK(errors_of(" \n\n\t\n") == msg);
    CHECK(errors_of("# only a comment\n") == msg);
}

TEST_CASE("plan input: binary garbage") {
    std::string garbage = "version: 1\nho";
    garbage += std::string("\x00\x01\xff\xfe", 4);
    // Located like every plan error, but the line is not echoed: it holds the bad byte.
    CHECK(errors_of(garbage) == "x.yaml:2:3: not a UTF-8 text file: byte 0x00; a plan is YAML text\n");
    CHECK(errors_of("\xc3\x28") == "x.yaml:1:1: not a UTF-8 text file: byte 0xc3; a plan is YAML text\n");
    CHECK(errors_of(
              "version: 1\nhosts: {me: {}}\nscenarios:\n  - {name: s, traffic: tcp_rr, flows: 4\x1b[2J}\n") ==
          "x.yaml:4:40: not a UTF-8 text file: byte 0x1b; a plan is YAML text\n");
    // Valid UTF-8 is fine in comments and strings.
    auto ok = load_plan(
        "x.yaml", "# débit µs\nversion: 1\nhosts: {me: {}}\nscenarios:\n  - {name: s, traffic: tcp_rr}\n");
    CHECK(ok.has_value());
}

TEST_CASE("plan input: a 50 MB text is refused before parsing") {
    std::string big(50u << 20, '#');
    CHECK(errors_of(big) == "x.yaml: file is 52428800 bytes; a plan may be at most 1048576 bytes (1 MiB)\n");
}

TEST_CASE("plan input: a 50 MB file is refused before reading") {
    char path[] = "/tmp/kperf-plan-big-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, 50 << 20) == 0); // sparse: costs no disk
    close(fd);
    auto p = load_plan_file(path);
    unlink(path);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().text ==
          std::string(path) + ": file is 52428800 bytes; a plan may be at most 1048576 bytes (1 MiB)\n");
}

TEST_CASE("plan input: a missing file") {
    auto p = load_plan_file("/nonexistent/plan.yaml");
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().text == "/nonexistent/plan.yaml: cannot read: No such file or directory\n");
}

TEST_CASE("plan input: deeply nested documents") {
    CHECK(errors_of(std::string(100000, '[')) ==
          "x.yaml:1:33: document nested too deeply: a plan may nest at most 32 levels\n");
    CHECK(errors_of(std::string(100000, '{')) ==
          "x.yaml:1:33: document nested too deeply: a plan may nest at most 32 levels\n");
    std::string dashes;
    for (int i = 0; i < 50000; ++i)
        dashes += "- ";
    CHECK(errors_of(dashes + "x\n") ==
          "x.yaml:1:66: list nested too deeply: a plan may nest at most 32 levels\n");
    std::string indented;
    for (int i = 0; i < 300; ++i)
        indented += std::string(static_cast<std::size_t>(i), ' ') + "a:\n";
    CHECK(errors_of(indented).starts_with("x.yaml:130:129: indentation nested too deeply"));
    // Just inside the limit, the YAML parser gets it and the loader says what is wrong.
    std::string ok_depth = "version: 1\nhosts: " + std::string(30, '[') + std::string(30, ']') + "\n";
    CHECK(errors_of(ok_depth).find("x.yaml:2:8: hosts: expected a mapping, got a list\n") !=
          std::string::npos);
}

TEST_CASE("plan input: not a mapping, several documents, odd scalars") {
    CHECK(errors_of("just a string\n") ==
          "x.yaml:1:1: expected a mapping with keys version, name, hosts, defaults, "
          "scenarios and settings, got a scalar\n"
          "just a string\n"
          "^\n");
    CHECK(errors_of("version: 1\n---\nversion: 1\n") ==
          "x.yaml:2:1: a plan is one YAML document; found a second one\n"
          "---\n"
          "^\n");
}
