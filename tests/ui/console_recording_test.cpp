// The console's recordings (ui/console_recording.hpp): the recorder keeps the snapshots as they
// are but for the picks' machine times (stamped with the run's, the measured duration dropped),
// and the recorded page is the console page with the recording readable back from it, escaped
// so that no text in the data can end its script.
#include <catch2/catch.hpp>

#include <string>

#include "ui/console_page.hpp"
#include "ui/console_recording.hpp"

using namespace inferstack;
using json = nlohmann::json;

namespace {

json pick(const std::string& pool, int64_t seq, int64_t wall_ms) {
  return {{"seq", seq},          {"pool", pool},       {"unix_ms", wall_ms},
          {"duration_us", 12.5}, {"pod", pool + "-0"}, {"status", "ok"}};
}

json snapshot(int64_t at_ms, json picks) {
  return {{"at_ms", at_ms},
          {"pods", json::array({{{"name", "a/alpha-0"}, {"phase", "Ready"}}})},
          {"picks", std::move(picks)}};
}

/// The JSON between the page's recording element's tags.
std::string embedded(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"recording\">";
  auto from = page.find(open);
  REQUIRE(from != std::string::npos);
  from += open.size();
  auto to = page.find("</script>", from);
  REQUIRE(to != std::string::npos);
  return page.substr(from, to - from);
}

}  // namespace

TEST_CASE("the recorder keeps each snapshot and stamps the picks with the run's time") {
  ui::console_recorder r("run");
  const int64_t start = 1767225605000;
  r.add(snapshot(start, json::array()), 0);
  r.add(snapshot(start + 1000, json::array({pick("a/alpha", 1, 999)})), 1000);
  // The same pick again, and a newer one: the first keeps the time it was first seen at.
  r.add(snapshot(start + 2000, json::array({pick("a/alpha", 2, 555), pick("a/alpha", 1, 999)})),
        2000);
  // Same sequence number in another pool: another pick.
  r.add(snapshot(start + 3000, json::array({pick("b/beta", 1, 777), pick("a/alpha", 2, 555)})),
        3000);
  REQUIRE(r.frames() == 4);
  auto run = json::parse(r.run());
  CHECK(run["label"] == "run");
  CHECK(run["start_ms"] == start);
  const auto& frames = run["frames"];
  REQUIRE(frames.size() == 4);
  CHECK(frames[0]["at_ms"] == start);
  CHECK(frames[0]["pods"][0]["name"] == "a/alpha-0");
  CHECK(frames[1]["picks"][0]["unix_ms"] == start + 1000);
  CHECK(frames[2]["picks"][0]["unix_ms"] == start + 2000);
  CHECK(frames[2]["picks"][1]["unix_ms"] == start + 1000);
  CHECK(frames[3]["picks"][0]["pool"] == "b/beta");
  CHECK(frames[3]["picks"][0]["unix_ms"] == start + 3000);
  CHECK(frames[3]["picks"][1]["unix_ms"] == start + 2000);
  for (const auto& f : frames)
    for (const auto& p : f["picks"])
      CHECK_FALSE(p.contains("duration_us"));
}

TEST_CASE("the recorder counts the run's start from the first snapshot's time") {
  ui::console_recorder r("replicas=2");
  r.add(snapshot(50000, json::array()), 5000);
  r.add(snapshot(51000, json::array()), 6000);
  auto run = json::parse(r.run());
  CHECK(run["start_ms"] == 45000);
  CHECK(run["label"] == "replicas=2");
}

TEST_CASE("the recorded page is the console page with the recording readable in it") {
  ui::console_recorder r("run");
  // Text that would end the script or open a comment if written as it is.
  auto s = snapshot(1000, json::array());
  s["pods"][0]["reason"] = "</script><script>alert(1)</script><!-- x";
  r.add(s, 0);
  auto recording = ui::recording_document({r.run(), r.run()});
  auto doc = json::parse(recording);
  CHECK(doc["recording"] == 1);
  CHECK(doc["runs"].size() == 2);
  CHECK(doc["runs"][0]["frames"][0]["pods"][0]["reason"] ==
        "</script><script>alert(1)</script><!-- x");
  auto page = ui::recorded_page(recording);

  // The live page has the element, empty; the recorded one has the data in it and is the same
  // page around it.
  CHECK(embedded(ui::console_page()).empty());
  auto data = embedded(page);
  CHECK(data.find('<') == std::string::npos);
  CHECK(json::parse(data) == doc);
  CHECK(page.size() == ui::console_page().size() + data.size());
  CHECK(page.find("function play(") != std::string::npos);
  CHECK(page.find("/ui/events") != std::string::npos);  // still the live page's code too
}
