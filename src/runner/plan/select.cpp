#include "runner/plan/select.hpp"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runner/plan/diagnostics.hpp"

namespace kp::runner {
namespace {

/// Edit distance, for the ids nearest to a pattern that matched nothing.
std::size_t distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

} // namespace

std::expected<std::vector<instance>, std::string> select_instances(std::vector<instance> all,
                                                                   const std::vector<std::string>& patterns) {
    if (patterns.empty()) return all;
    std::vector<bool> used(patterns.size(), false);
    std::vector<instance> out;
    for (auto& in : all) {
        bool keep = false;
        for (std::size_t i = 0; i < patterns.size(); ++i)
            if (::fnmatch(patterns[i].c_str(), in.id.c_str(), 0) == 0) keep = used[i] = true;
        if (keep) out.push_back(std::move(in));
    }
    std::string errors;
    for (std::size_t i = 0; i < patterns.size(); ++i) {
        if (used[i]) continue;
        // The ids nearest to the pattern without its wildcards, at most five.
        std::string bare;
        for (char c : patterns[i])
            if (c != '*' && c != '?') bare += c;
        std::vector<std::pair<std::size_t, std::string>> near;
        for (const auto& in : all)
            near.emplace_back(distance(bare, in.id.substr(0, std::max(bare.size(), std::size_t{1}) + 8)),
                              in.id);
        std::stable_sort(near.begin(), near.end(), [](auto& a, auto& b) { return a.first < b.first; });
        std::vector<std::string> ids;
        for (std::size_t k = 0; k < near.size() && k < 5; ++k)
            ids.push_back("'" + near[k].second + "'");
        errors +=
            fmt::format("--only '{}': matches no instance; {} {}{}\n", patterns[i],
                        all.size() <= 5 ? "the instances are" : "the nearest are", fmt::join(ids, ", "),
                        all.size() > 5 ? fmt::format(" (of {}; --dry-run lists them)", all.size()) : "");
    }
    if (!errors.empty()) return std::unexpected(errors);
    return out;
}

} // namespace kp::runner
