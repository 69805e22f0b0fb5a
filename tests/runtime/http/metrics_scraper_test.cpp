// The Prometheus text parser under the metrics scrapers (the scaler's, the picker's).
#include <catch2/catch.hpp>

#include <string_view>

#include "runtime/http/metrics_scraper.hpp"

using namespace inferstack;

TEST_CASE("Prometheus samples: labels with spaces and braces, timestamps, comments") {
  std::string_view name, labels;
  double value = 0;
  CHECK(http::parse_sample(R"(m{a="x y",b="}{ \"q\""} 4.5 1700000000)", name, labels, value));
  CHECK(name == "m");
  CHECK(labels == R"(a="x y",b="}{ \"q\"")");
  CHECK(value == 4.5);
  CHECK(http::parse_sample("plain 7", name, labels, value));
  CHECK(name == "plain");
  CHECK(labels.empty());
  CHECK(value == 7);
  CHECK(http::parse_sample("inf_metric +Inf", name, labels, value));
  CHECK_FALSE(http::parse_sample("# HELP m text", name, labels, value));
  CHECK_FALSE(http::parse_sample("", name, labels, value));
  CHECK_FALSE(http::parse_sample("m{a=\"unclosed} 1", name, labels, value));
  CHECK_FALSE(http::parse_sample("m 12abc", name, labels, value));
}
