#include "runner/plan/select.hpp"

#include <fnmatch.h>

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "runner/plan/diagnostics.hpp"

namespace kp::runner {

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
            near.emplace_back(edit_distance(bare, in.id.substr(0, std::max(bare.size(), std::size_t{1}) + 8)),
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
