// doctest's main, plus the SKIP exit code: when every test case this invocation ran called
// kp::test::skip, the executable exits 77 (meson's "skipped") instead of 0 (a pass that tested
// nothing). A mix of skipped and passed cases is a pass; the skipped ones say so in the log.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <set>

#include "skip.hpp"

namespace {

constexpr int meson_skip = 77;

int cases_run = 0;
const doctest::TestCaseData* current = nullptr;
std::set<const doctest::TestCaseData*> skipped;

/// Counts the test cases that start and remembers which one runs, for skip().
struct skip_listener : doctest::IReporter {
    explicit skip_listener(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData& tc) override {
        ++cases_run;
        current = &tc;
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("kp_skip", 1, skip_listener);

} // namespace

void kp::test::skip(std::string_view why) {
    MESSAGE("skipped: " << why);
    if (current != nullptr) skipped.insert(current);
}

int main(int argc, char** argv) {
    doctest::Context context(argc, argv);
    int rc = context.run();
    if (context.shouldExit()) return rc;
    if (rc == 0 && cases_run > 0 && static_cast<int>(skipped.size()) == cases_run) {
        std::printf("every test case skipped: exit %d (SKIP)\n", meson_skip);
        return meson_skip;
    }
    return rc;
}
