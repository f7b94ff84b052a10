#include <doctest/doctest.h>

#include <regex>
#include <string>

#include <openssl/evp.h>

#include "runner/report/html.hpp"
#include "runner/report/json.hpp"
#include "runner/report/progress.hpp"
#include "runner/report/summary.hpp"
#include "runner/results/aggregate.hpp"

using namespace kp;
using namespace kp::runner;
using nlohmann::json;

namespace {

run_record sample_run() {
    run_record run;
    run.plan_name = "p</script><script>alert(1)</script>";
    instance_record r;
    r.id = "rr/request_size=64</script>";
    r.scenario = "rr";
    r.kind = engine::traffic::tcp_rr;
    r.parameters = {{"request_size", "64"}};
    r.status = instance_status::expect_failed;
    repeat_record rep;
    rep.metrics[static_cast<std::size_t>(metric::transactions_per_s)] = 52100;
    rep.metrics[static_cast<std::size_t>(metric::latency_p99)] = 85;
    rep.metrics[static_cast<std::size_t>(metric::client_cpu_s)] = 0.41;
    rep.metrics[static_cast<std::size_t>(metric::server_cpu_s)] = 0.39;
    for (int k = 1; k <= 1000; ++k)
        rep.client.latency.record(static_cast<std::uint64_t>(k) * 1000);
    rep.client.samples = {{1.0, 100, 52000, 40.0, 80.0}, {2.0, 100, 52200, 41.0, 90.0}};
    r.repeats.push_back(rep);
    r.aggregate = aggregate_of(r.repeats);
    r.checks.push_back(
        {"latency_p99", comparison::lt, 1, "< 1us", std::optional<double>(85), std::nullopt, false});
    run.instances.push_back(r);
    r.id = "rr/request_size=1024";
    r.parameters = {{"request_size", "1KiB"}};
    run.instances.push_back(r);
    return run;
}

std::string sha256_b64(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
    std::string out(4 * ((len + 2) / 3), '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, static_cast<int>(len));
    return out;
}

/// The bodies of the page's <script> elements, in order.
std::vector<std::string> scripts(const std::string& page) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while ((at = page.find("<script", at)) != std::string::npos) {
        const std::size_t open = page.find('>', at) + 1, close = page.find("</script>", open);
        out.push_back(page.substr(open, close - open));
        at = close;
    }
    return out;
}

} // namespace

TEST_CASE("report html: data, Chart.js and script in three blocks; nothing in the data ends a block") {
    const run_record run = sample_run();
    const std::string page = html_report_of(run_json(run));
    const auto blocks = scripts(page);
    REQUIRE(blocks.size() == 3); // the hostile names did not open or close a script element
    const json data = json::parse(blocks[0]);
    CHECK(data["plan"] == run.plan_name); // "<" came through as \u003c and decodes back
    REQUIRE(data["instances"].size() == 2);
    CHECK(data["instances"][0]["id"] == run.instances[0].id);
    CHECK(blocks[1] == std::string(chartjs_source()));
    CHECK(blocks[1].find("Chart.js v3.9") != std::string::npos);
    // Names in the HTML are escaped.
    CHECK(page.find("<b>rr/request_size=64&lt;/script&gt;</b>") != std::string::npos);
}

TEST_CASE("report html: the CSP forbids loads and allows exactly the page's own scripts and style") {
    const std::string page = html_report_of(run_json(sample_run()));
    std::smatch m;
    REQUIRE(std::regex_search(page, m, std::regex("Content-Security-Policy\" content=\"([^\"]*)\"")));
    const std::string csp = m[1];
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("unsafe") == std::string::npos);
    const auto blocks = scripts(page);
    CHECK(csp.find("'sha256-" + sha256_b64(blocks[1]) + "'") != std::string::npos);
    CHECK(csp.find("'sha256-" + sha256_b64(blocks[2]) + "'") != std::string::npos);
    const std::size_t s = page.find("<style>") + 7, e = page.find("</style>");
    CHECK(csp.find("'sha256-" + sha256_b64(page.substr(s, e - s)) + "'") != std::string::npos);
}

TEST_CASE("report html: tables as the terminal summary formats them; the views hold what charts need") {
    const run_record run = sample_run();
    const std::string page = html_report_of(run_json(run));
    const std::string table = summary_table(run);
    // The headline and cpu cells of the terminal table appear verbatim in the page's table.
    const std::string cell = headline(run.instances[0]);
    CHECK(cell.starts_with("52.1k tx/s p99 "));
    CHECK(table.find(cell) != std::string::npos);
    CHECK(page.find("<td>" + cell + "</td>") != std::string::npos);
    CHECK(page.find(">0.41/0.39</td>") != std::string::npos);
    CHECK(page.find("FAIL rr/request_size=64&lt;/script&gt;: latency_p99 &lt; 1us: measured 85.0 us") !=
          std::string::npos);
    const json data = json::parse(scripts(page)[0]);
    const json& v = data["instances"][0];
    REQUIRE(v["series"].size() == 1);
    CHECK(v["series"][0]["rate"] == json::array({52000.0, 52200.0}));
    CHECK(v["series"][0]["p99"] == json::array({80.0, 90.0}));
    // Percentile curve: x on the nines scale from 0 to log10(count) = 3, y the histogram's value.
    REQUIRE(v["pct"].size() > 10);
    CHECK(v["pct"][0][0] == 0.0);
    CHECK(v["pct"].back()[1].get<double>() == doctest::Approx(1000.0)); // the max, 1 ms
    // The matrix: request_size 64 and 1KiB are numbers, one chart against that axis.
    REQUIRE(data["matrix"].size() == 1);
    CHECK(data["matrix"][0]["axis"] == "request_size");
    CHECK(data["matrix"][0]["axis_unit"] == "bytes"); // "64" and "1KiB" alike, for the axis title
    CHECK(data["matrix"][0]["lines"][0]["points"] == json::parse("[[64, 52100], [1024, 52100]]"));
}

TEST_CASE("report html: built instance by instance equals the page of the whole document") {
    run_record run = sample_run();
    html_report h;
    h.add(instance_json(run.instances[0]));
    // The second instance is not add()ed: text() takes it from `rest`, as run does for skipped ones.
    const std::string page = h.text(run_json_frame(run), {instance_json(run.instances[1])});
    CHECK(page == html_report_of(run_json(run)));
}
