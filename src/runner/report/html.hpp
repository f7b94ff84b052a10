#pragma once
/// report.html: one self-contained page of a run, built from the results document (the JSON of
/// results.json, so `kperf-plan report` and `run` make the same page). It carries its data (a JSON
/// script block), its chart library (Chart.js, compiled in) and a Content-Security-Policy that
/// forbids every network load. Tables are formatted here as the terminal summary formats them;
/// the page's script draws the charts from the data. docs/report.md describes the page.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kp::runner {

/// The page, built as the run goes: each finished instance is condensed once to what the page
/// shows of it (its view: formatted rows, per-second series, percentile curve, CPU, search, via),
/// so rewriting report.html after every instance costs no pass over earlier instances' JSON.
class html_report {
  public:
    /// Keeps the view of the next instance (an instance_json object), in run order.
    void add(const nlohmann::json& instance);
    [[nodiscard]] std::size_t size() const { return views_.size(); }
    /// The page for `frame` (results.json without its instances: header, status, baseline) whose
    /// instances are the add()ed ones, then `rest`.
    [[nodiscard]] std::string text(const nlohmann::json& frame,
                                   const std::vector<nlohmann::json>& rest = {}) const;

  private:
    std::vector<nlohmann::json> views_;
    std::vector<std::string> texts_; ///< each view as it goes into the data block, dumped once
};

/// The page of a whole results document (load_results()'s).
[[nodiscard]] std::string html_report_of(const nlohmann::json& doc);

/// The Chart.js source compiled into the binary (generated from Debian's libjs-chart.js).
[[nodiscard]] std::string_view chartjs_source();

} // namespace kp::runner
