// W3C traceparent/tracestate handling, id generation and the parent-based ratio sampler.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "runtime/tracing/span.hpp"
#include "runtime/tracing/trace_context.hpp"

using namespace inferstack::tracing;

namespace {
// The spec's own example.
constexpr const char* example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}  // namespace

TEST_CASE("traceparent: the spec's example parses into trace, parent and sampled flag") {
  auto ctx = parse_traceparent(example);
  REQUIRE(ctx);
  CHECK(to_hex(ctx->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(to_hex(ctx->parent) == "00f067aa0ba902b7");
  CHECK(ctx->sampled());
  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(unsampled);
  CHECK_FALSE(unsampled->sampled());
}

TEST_CASE("traceparent: format writes back what parse read") {
  auto ctx = parse_traceparent(example);
  REQUIRE(ctx);
  CHECK(format_traceparent(ctx->trace, ctx->parent, ctx->flags) == example);
}

TEST_CASE("traceparent: invalid headers are refused (a new trace starts)") {
  const char* invalid[] = {
      "",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 is exactly 55
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-010",  // v00 is exactly 55
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",   // dash misplaced
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // wrong separator
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version not hex
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper-case trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",   // upper-case parent id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",   // upper-case flags
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // upper-case version
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",   // flags not hex
      "00-4bf92f3577b34da6a3ce929d0e0e47 6-00f067aa0ba902b7-01",   // blank inside
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // later version, no dash
  };
  for (const char* header : invalid) {
    INFO(header);
    CHECK_FALSE(parse_traceparent(header));
  }
}

TEST_CASE("traceparent: a later version is read by its first 55 characters") {
  auto longer = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what");
  REQUIRE(longer);
  CHECK(to_hex(longer->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(longer->sampled());
  CHECK(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST_CASE("traceparent: flags other than sampled are not passed on") {
  auto ctx = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
  REQUIRE(ctx);
  CHECK(ctx->flags == sampled_flag);
  auto unknown_only = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02");
  REQUIRE(unknown_only);
  CHECK(unknown_only->flags == 0);
}

TEST_CASE("tracestate: passed on unchanged up to 512 characters, cut at members beyond") {
  CHECK(bounded_tracestate("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7") ==
        "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7");
  CHECK(bounded_tracestate("") == "");
  std::string exact(max_tracestate_length, 'a');
  exact[0] = 'k';
  exact[1] = '=';
  CHECK(bounded_tracestate(exact) == exact);
  // 40 members of 20 characters: 819 in all; whole members are dropped from the end.
  std::string many;
  for (int i = 0; i < 40; ++i) {
    if (i) many += ',';
    auto member = "vendor" + std::to_string(100 + i) + "=abcdefghij";
    many += member;
  }
  auto cut = bounded_tracestate(many);
  CHECK(cut.size() <= max_tracestate_length);
  CHECK(cut.size() > max_tracestate_length - 21);
  CHECK(many.substr(0, cut.size()) == cut);
  CHECK(many[cut.size()] == ',');
  // One member longer than the bound cannot be cut: nothing is passed on.
  CHECK(bounded_tracestate(std::string(600, 'x')) == "");
  // Control characters: nothing is passed on.
  CHECK(bounded_tracestate("a=b\r\nX-Evil: 1") == "");
}

TEST_CASE("id_generator: the same seed draws the same ids, distinct and never zero") {
  id_generator a(42), b(42), c(43);
  auto first = a.new_trace_id();
  CHECK(first == b.new_trace_id());
  CHECK(first != c.new_trace_id());
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto span = a.new_span_id();
    CHECK_FALSE(is_zero(span));
    seen.insert(to_hex(span));
  }
  CHECK(seen.size() == 1000);
  // Seed 0 is fine too: splitmix's first step moves off zero.
  id_generator zero(0);
  CHECK_FALSE(is_zero(zero.new_trace_id()));
}

TEST_CASE("sampler: parent-based -- an incoming traceparent's flag decides") {
  ratio_sampler never(0.0), always(1.0);
  auto sampled = parse_traceparent(example);
  auto unsampled = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  REQUIRE(sampled);
  REQUIRE(unsampled);
  CHECK(never.sample(sampled->trace, &*sampled));
  CHECK_FALSE(always.sample(unsampled->trace, &*unsampled));
}

TEST_CASE("sampler: a new trace is sampled for the ratio of ids, from the id alone") {
  ratio_sampler never(0.0), always(1.0), quarter(0.25);
  id_generator ids(7);
  int taken = 0;
  constexpr int draws = 20000;
  for (int i = 0; i < draws; ++i) {
    auto id = ids.new_trace_id();
    CHECK_FALSE(never.sample(id, nullptr));
    CHECK(always.sample(id, nullptr));
    bool q = quarter.sample(id, nullptr);
    CHECK(q == quarter.sample(id, nullptr));  // every hop decides alike
    taken += q;
  }
  CHECK(taken > draws * 0.23);
  CHECK(taken < draws * 0.27);
  // The decision reads the low 56 bits: an id whose are all ones is above every ratio below 1.
  trace_id high{};
  for (size_t i = 9; i < 16; ++i)
    high[i] = 0xff;
  CHECK_FALSE(ratio_sampler(0.999).sample(high, nullptr));
  CHECK(always.sample(high, nullptr));
  trace_id low{};
  low[15] = 1;
  CHECK(ratio_sampler(0.001).sample(low, nullptr));
  // Out-of-range ratios are clamped.
  CHECK(ratio_sampler(7).ratio() == 1.0);
  CHECK(ratio_sampler(-1).ratio() == 0.0);
}
