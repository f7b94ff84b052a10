#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "engine/stats/fold.hpp"

using namespace kp::engine;

namespace {

std::uint64_t by_transactions(const flow_result& f) {
    return f.transactions;
}

/// `n` flows whose transactions are 10 * (7i mod n): for n coprime to 7, 0..n-1 shuffled.
side_result side_of(std::uint32_t n) {
    side_result s;
    for (std::uint32_t i = 0; i < n; ++i) {
        flow_result f;
        f.id = i;
        f.transactions = 10ull * ((i * 7) % n);
        f.bytes_sent = 100 + i;
        f.bytes_received = 200 + 2ull * i;
        f.connections = i % 3;
        f.datagrams_sent = 1;
        f.datagrams_received = 2;
        f.lost = i % 2;
        f.reordered = 3;
        f.duplicated = 4;
        f.tcp.total_retrans = i % 5;
        s.flows.push_back(f);
    }
    return s;
}

} // namespace

TEST_CASE("fold: at most the threshold of flows keeps every flow, in id order") {
    side_result s = side_of(fold_threshold);
    const auto before = s.flows;
    fold_flows(s, by_transactions, false);
    CHECK(s.flows == before);
    CHECK(s.flows_omitted == 0);
    CHECK(s.totals.flows == fold_threshold);
}

TEST_CASE("fold: past the threshold keeps the lowest and highest flows in full") {
    const std::uint32_t n = 1000; // 7 * i mod 1000 is a permutation; flow 0 ties no one
    side_result s = side_of(n);
    const auto all = s.flows;
    fold_flows(s, by_transactions, false);
    REQUIRE(s.flows.size() == 2 * fold_keep);
    CHECK(s.flows_omitted == n - 2 * fold_keep);
    // The expected ends: sort everything by (transactions, id).
    auto sorted = all;
    std::sort(sorted.begin(), sorted.end(), [](const flow_result& a, const flow_result& b) {
        return a.transactions != b.transactions ? a.transactions < b.transactions : a.id < b.id;
    });
    for (std::size_t k = 0; k < fold_keep; ++k) {
        CHECK(s.flows[k] == sorted[k]);
        CHECK(s.flows[fold_keep + k] == sorted[n - fold_keep + k]);
    }
}

TEST_CASE("fold: totals and spread cover every flow, folded or not") {
    const std::uint32_t n = 200;
    side_result folded = side_of(n), full = side_of(n);
    const auto all = folded.flows;
    fold_flows(folded, by_transactions, false);
    fold_flows(full, by_transactions, true);
    CHECK(full.flows == all); // flow_detail keeps every flow as it was
    CHECK(full.flows_omitted == 0);
    CHECK(folded.totals == full.totals);
    CHECK(folded.spread == full.spread);
    flow_totals want;
    for (const auto& f : all) {
        ++want.flows;
        want.bytes_sent += f.bytes_sent;
        want.bytes_received += f.bytes_received;
        want.transactions += f.transactions;
        want.connections += f.connections;
        want.datagrams_sent += f.datagrams_sent;
        want.datagrams_received += f.datagrams_received;
        want.lost += f.lost;
        want.reordered += f.reordered;
        want.duplicated += f.duplicated;
        want.total_retrans += f.tcp.total_retrans;
    }
    CHECK(folded.totals == want);
    // transactions are 10 * (0..199) in some order: min 0, max 1990, median (990 + 1000) / 2.
    CHECK(folded.spread.min == 0);
    CHECK(folded.spread.max == 1990);
    CHECK(folded.spread.median == 995);
    CHECK(folded.spread.fairness > 0.7);
    CHECK(folded.spread.fairness < 0.8); // uniform 0..m: (m/2)^2 / (m^2/3) = 0.75
}

TEST_CASE("fold: Jain's index is 1 for equal flows and 1/n when one flow has it all") {
    std::vector<flow_result> equal(4), one(4);
    for (auto& f : equal)
        f.transactions = 5;
    one[2].transactions = 9;
    CHECK(spread_of(equal, by_transactions).fairness == 1.0);
    CHECK(spread_of(one, by_transactions).fairness == 0.25);
    CHECK(spread_of(std::vector<flow_result>(3), by_transactions).fairness == 1.0); // all zero
    CHECK(spread_of(one, by_transactions).median == 0);
}
