// The report's plots: gnuplot draws every image from synthetic runs, the data files hold the
// curves, odd labels and a missing gnuplot are handled.
#include "simulate/report/plots.hpp"
#include "tests/simulate/temp_files.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace inferstack::simulate;
namespace testing = inferstack::simulate::testing;

namespace {

constexpr int64_t ms = 1'000'000;
constexpr int64_t s = 1'000'000'000;

const fs::path& temp_dir() {
  return testing::temp_dir("plots-test");
}

std::string read(const fs::path& path) {
  return testing::read_file(path);
}

/// A variant of `count` requests over 120 s on two pools: TTFTs around `ttft_ms` (rising in the
/// middle minute, when the replicas go up), a hit rate near `hit`, one error in twenty.
variant_run synthetic_run(const std::string& label, int count, double ttft_ms, double hit,
                          uint32_t seed) {
  std::mt19937 random(seed);  // its raw numbers are the same everywhere
  auto uniform = [&random] { return static_cast<double>(random()) / 4294967296.0; };
  variant_run run;
  run.label = label;
  for (int i = 0; i < count; ++i) {
    request_record r;
    r.index = static_cast<uint64_t>(i);
    r.arrival_ns = static_cast<int64_t>(115.0 * s * i / count);
    r.pool = i % 3 == 0 ? "default/small" : "default/large";
    r.prompt_tokens = 1000;
    bool busy = r.arrival_ns > 40 * s && r.arrival_ns < 80 * s;
    if (i % 20 == 7) {
      r.status = 503;
      r.outcome = "unavailable";
      r.e2e_ns = 2 * ms;
    } else {
      r.status = 200;
      r.outcome = "ok";
      r.pod = r.pool + "-" + std::to_string(i % 4);
      double spread = std::exp(2.0 * (uniform() - 0.5));  // e^-1 .. e^1 around the median
      r.ttft_ns = static_cast<int64_t>(ttft_ms * spread * (busy ? 4 : 1) * ms);
      r.itl_ns = 20 * ms;
      r.output_tokens = 200;
      r.e2e_ns = r.ttft_ns + 199 * r.itl_ns;
      r.cached_tokens = static_cast<uint32_t>(1000 * std::min(1.0, hit * (0.6 + 0.8 * uniform())));
    }
    run.requests.push_back(r);
  }
  for (int64_t second = 0; second < 120; ++second) {
    for (const char* pool : {"default/large", "default/small"}) {
      series_row row;
      row.second = second;
      row.pool = pool;
      row.ready_replicas = (second < 50 ? 2 : second < 90 ? 4 : 3) + (seed % 2);
      row.replicas = row.ready_replicas;
      row.hit_rate = hit;
      row.ttft_p90_ms = ttft_ms;
      run.series.push_back(row);
    }
  }
  return run;
}

std::vector<variant_run> two_variants(const std::string& first, const std::string& second) {
  return {synthetic_run(first, 400, 60, 0.7, 1), synthetic_run(second, 300, 150, 0.3, 2)};
}

const char* const images[] = {"ttft_cdf.png",          "ttft_cdf.svg", "ttft_p90_replicas.png",
                              "ttft_p90_replicas.svg", "hit_rate.png", "hit_rate.svg"};

/// All six images in `dir`: PNGs with their signature and more than a few KB, SVGs with <svg.
void check_images(const plot_result& result, const fs::path& dir) {
  INFO(result.problem);
  CHECK(result.problem.empty());
  REQUIRE(result.files.size() == 6);
  for (const char* image : images) {
    INFO(image);
    fs::path file = dir / image;
    CHECK(std::find(result.files.begin(), result.files.end(), file.string()) != result.files.end());
    std::string content = read(file);
    if (file.extension() == ".png") {
      CHECK(content.rfind("\x89PNG\r\n\x1a\n", 0) == 0);
      CHECK(content.size() > 8000);
    } else {
      CHECK(content.find("<svg") != std::string::npos);
    }
  }
}

/// The rows of a whitespace-separated data file, comments left out.
std::vector<std::vector<std::string>> rows_of(const fs::path& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(read(path));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string word; words >> word;)
      row.push_back(word);
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST_CASE("draw_plots draws the six images, with the script and data beside them") {
  fs::path dir = temp_dir() / "two";
  plot_result result = draw_plots(two_variants("precise", "load-aware"), dir.string());
  check_images(result, dir);
  CHECK(read(dir / "plots.gp").find("plots-data/v2-load-aware-series.dat") != std::string::npos);
  CHECK(rows_of(dir / "plots-data" / "v1-precise-ttft-cdf.dat").size() == 380);  // 400 - errors
  CHECK(rows_of(dir / "plots-data" / "v2-load-aware-series.dat").size() == 120);
}

TEST_CASE("draw_plots data hold the trailing-window TTFT p90, summed replicas, hit rate") {
  variant_run run;
  run.label = "hand";
  // Second 0: TTFTs 10..100 ms (p90: 90), prompts 100 tokens with 50 cached; second 11: one
  // request of 500 ms with nothing cached, alone in its window.
  for (int i = 0; i < 10; ++i) {
    request_record r;
    r.arrival_ns = 0;
    r.pod = "p";
    r.ttft_ns = (i + 1) * 10 * ms;
    r.e2e_ns = r.ttft_ns;
    r.prompt_tokens = 100;
    r.cached_tokens = 50;
    run.requests.push_back(r);
  }
  request_record late;
  late.arrival_ns = 11 * s;
  late.pod = "p";
  late.ttft_ns = 500 * ms;
  late.e2e_ns = 500 * ms;
  late.prompt_tokens = 100;
  run.requests.push_back(late);
  for (const char* pool : {"a", "b"}) {
    series_row row;
    row.second = 3;
    row.pool = pool;
    row.ready_replicas = 2;
    run.series.push_back(row);
  }
  fs::path dir = temp_dir() / "hand";
  plot_result result = draw_plots({run}, dir.string());
  CHECK(result.problem.empty());
  auto rows = rows_of(dir / "plots-data" / "v1-hand-series.dat");
  REQUIRE(rows.size() == 12);
  using row = std::vector<std::string>;
  CHECK(rows[0] == row{"0", "90", "NaN", "50"});
  CHECK(rows[3] == row{"3", "90", "4", "50"});  // the two pools' replicas summed
  CHECK(rows[9] == row{"9", "90", "NaN", "50"});
  CHECK(rows[10] == row{"10", "NaN", "NaN", "NaN"});  // second 0 left the 10 s window
  CHECK(rows[11] == row{"11", "500", "NaN", "0"});
  auto cdf = rows_of(dir / "plots-data" / "v1-hand-ttft-cdf.dat");
  REQUIRE(cdf.size() == 11);
  CHECK(cdf[0] == row{"10", "0.0909091"});
  CHECK(cdf[10] == row{"500", "1"});
}

TEST_CASE("draw_plots without a gnuplot program gives a problem and no images") {
  fs::path dir = temp_dir() / "missing";
  plot_result result =
      draw_plots(two_variants("a", "b"), dir.string(), (temp_dir() / "no-such-gnuplot").string());
  CHECK(result.files.empty());
  CHECK(result.problem.find("cannot run") != std::string::npos);
  CHECK(result.problem.find("gnuplot-nox") != std::string::npos);
  CHECK(result.problem.find('\n') == std::string::npos);
  CHECK(fs::exists(dir / "plots.gp"));  // the user can still draw them later
}

TEST_CASE("draw_plots with a failing gnuplot gives its error in one line") {
  fs::path dir = temp_dir() / "failing";
  fs::path fake = temp_dir() / "failing-gnuplot";
  std::ofstream(fake) << "#!/bin/sh\necho 'line 3: something broke' >&2\nexit 1\n";
  fs::permissions(fake, fs::perms::owner_all);
  plot_result result = draw_plots(two_variants("a", "b"), dir.string(), fake.string());
  CHECK(result.files.empty());
  CHECK(result.problem.find("failed (exit 1): line 3: something broke") != std::string::npos);
}

TEST_CASE("draw_plots takes variant labels with any characters") {
  fs::path dir = temp_dir() / "odd labels 'quoted' $x";
  std::string odd = "p_1@x^{2} 'it''s' \"q\" \\ $`id` <&>\nµs";
  std::string long_label = std::string(50, 'x') + "-é-" + std::string(50, 'y');
  plot_result result = draw_plots(two_variants(odd, long_label), dir.string());
  check_images(result, dir);
  // File names keep letters, digits, '.', '-', '_' (and start with the variant's number).
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir / "plots-data")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  CHECK(names ==
        std::vector<std::string>{"v1-p_1_x__2___it__s___q______id________s-series.dat",
                                 "v1-p_1_x__2___it__s___q______id________s-ttft-cdf.dat",
                                 "v2-" + std::string(50, 'x') + "-__-yyyyyy-series.dat",
                                 "v2-" + std::string(50, 'x') + "-__-yyyyyy-ttft-cdf.dat"});
  // Legends keep the text in every image (the SVG escapes XML's specials: '<', '&'); the panels
  // of ttft_p90_replicas have one each. A long one loses its middle.
  for (const char* image : {"ttft_cdf.svg", "ttft_p90_replicas.svg", "hit_rate.svg"}) {
    INFO(image);
    std::string svg = read(dir / image);
    auto count = [&svg](const std::string& text) {
      size_t found = 0;
      for (size_t at = svg.find(text); at != std::string::npos; at = svg.find(text, at + 1)) {
        ++found;
      }
      return found;
    };
    size_t legends = std::string(image) == "ttft_p90_replicas.svg" ? 2 : 1;
    CHECK(count("p_1@x^{2} 'it''s' \"q\" \\ $`id` &lt;&amp;> µs") == legends);
    CHECK(count("xxxxxxxxxx\u2026yyyyyyyyyy") == legends);
  }
}

TEST_CASE("draw_plots draws runs without any answered request") {
  variant_run run;
  run.label = "all failed";
  request_record r;
  r.status = 503;
  r.outcome = "unavailable";
  run.requests.push_back(r);
  fs::path dir = temp_dir() / "empty";
  plot_result result = draw_plots({run}, dir.string());
  INFO(result.problem);
  CHECK(result.problem.empty());
  CHECK(result.files.size() == 6);
}
