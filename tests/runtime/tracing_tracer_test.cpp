// The tracer: a request's span from its traceparent, what the next hop is told, the end handed
// over -- with a set clock and seed.
#include <catch2/catch.hpp>

#include <vector>

#include "runtime/tracing/tracer.hpp"

using namespace inferstack::tracing;

namespace {

constexpr const char* sampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
constexpr const char* unsampled_parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

struct fixture {
  uint64_t clock = 1000;
  std::vector<span> ended;
  tracer make(double ratio) {
    return tracer(
        ratio_sampler(ratio), 99, [this] { return clock; },
        [this](span&& s) { ended.push_back(std::move(s)); });
  }
};

}  // namespace

TEST_CASE("tracer: without a traceparent a new trace starts, our span its root") {
  fixture f;
  auto t = f.make(1.0);
  auto rt = t.begin("", "ignored=1", "POST /v1/completions");
  REQUIRE(rt.recorded);
  auto& s = *rt.recorded;
  CHECK(is_zero(s.parent));
  CHECK_FALSE(is_zero(s.trace));
  CHECK(s.start_unix_nano == 1000);
  CHECK(s.kind == span_kind::server);
  CHECK(s.name == "POST /v1/completions");
  CHECK(rt.traceparent == format_traceparent(s.trace, s.id, sampled_flag));
  CHECK(rt.tracestate.empty());  // no caller: no state of the caller's
  f.clock = 5000;
  t.end(std::move(*rt.recorded));
  REQUIRE(f.ended.size() == 1);
  CHECK(f.ended[0].end_unix_nano == 5000);
  CHECK(f.ended[0].start_unix_nano == 1000);
}

TEST_CASE("tracer: a sampled caller's trace goes on, its span our parent") {
  fixture f;
  auto t = f.make(0.0);  // the caller decided: the ratio does not matter
  auto rt = t.begin(sampled_parent, "rojo=00f067aa0ba902b7", "POST /v1/chat/completions");
  REQUIRE(rt.recorded);
  CHECK(to_hex(rt.recorded->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(to_hex(rt.recorded->parent) == "00f067aa0ba902b7");
  CHECK(rt.recorded->tracestate == "rojo=00f067aa0ba902b7");
  CHECK(rt.tracestate == "rojo=00f067aa0ba902b7");
  auto next = parse_traceparent(rt.traceparent);
  REQUIRE(next);
  CHECK(next->trace == rt.recorded->trace);
  CHECK(next->parent == rt.recorded->id);  // the next hop's parent is our span
  CHECK(next->sampled());
}

TEST_CASE("tracer: an unsampled caller is not recorded but its trace is passed on") {
  fixture f;
  auto t = f.make(1.0);
  auto rt = t.begin(unsampled_parent, "rojo=1", "x");
  CHECK_FALSE(rt.recorded);
  auto next = parse_traceparent(rt.traceparent);
  REQUIRE(next);
  CHECK(to_hex(next->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(to_hex(next->parent) != "00f067aa0ba902b7");
  CHECK_FALSE(next->sampled());
  CHECK(rt.tracestate == "rojo=1");
}

TEST_CASE("tracer: an invalid traceparent starts a new trace and drops the tracestate") {
  fixture f;
  auto t = f.make(1.0);
  auto rt = t.begin("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "rojo=1", "x");
  REQUIRE(rt.recorded);
  CHECK(to_hex(rt.recorded->trace) != "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(is_zero(rt.recorded->parent));
  CHECK(rt.tracestate.empty());
  CHECK(rt.recorded->tracestate.empty());
}

TEST_CASE("tracer: at ratio 0 a new trace is passed on unsampled and nothing is recorded") {
  fixture f;
  auto t = f.make(0.0);
  auto rt = t.begin("", "", "x");
  CHECK_FALSE(rt.recorded);
  auto next = parse_traceparent(rt.traceparent);
  REQUIRE(next);
  CHECK_FALSE(next->sampled());
  CHECK(f.ended.empty());
}

TEST_CASE("tracer: a hop's child span only under a sampled caller, never a trace of its own") {
  fixture f;
  auto t = f.make(1.0);  // even at 100 % a hop starts nothing by itself
  CHECK_FALSE(t.child("", "", "pick"));
  CHECK_FALSE(t.child(unsampled_parent, "rojo=1", "pick"));
  CHECK_FALSE(t.child("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "", "pick"));
  f.clock = 2500;
  auto s = t.child(sampled_parent, "", "pick");
  REQUIRE(s);
  CHECK(to_hex(s->trace) == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(to_hex(s->parent) == "00f067aa0ba902b7");
  CHECK_FALSE(is_zero(s->id));
  CHECK(s->id != s->parent);
  CHECK(s->name == "pick");
  CHECK(s->tracestate.empty());
  CHECK(s->kind == span_kind::server);
  CHECK(s->start_unix_nano == 2500);
  // A span the caller timed itself keeps its end.
  s->end_unix_nano = 9000;
  f.clock = 100000;
  t.submit(std::move(*s));
  REQUIRE(f.ended.size() == 1);
  CHECK(f.ended[0].end_unix_nano == 9000);
}

TEST_CASE("tracer: a hop's child span keeps the tracestate its caller passed on, bounded") {
  fixture f;
  auto t = f.make(1.0);
  auto s = t.child(sampled_parent, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "generate");
  REQUIRE(s);
  CHECK(s->tracestate == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  // Longer than the bound: whole members dropped from the end, as at the gateway.
  std::string members;
  for (int i = 0; i < 60; ++i)
    members += (i ? ",k" : "k") + std::to_string(i) + "=0123456789";
  auto cut = t.child(sampled_parent, members, "generate");
  REQUIRE(cut);
  CHECK(cut->tracestate == bounded_tracestate(members));
  CHECK(cut->tracestate.size() <= max_tracestate_length);
  CHECK_FALSE(cut->tracestate.empty());
  // A header-smuggling character: nothing passed on.
  auto bad = t.child(sampled_parent, "rojo=1\r\nx: y", "generate");
  REQUIRE(bad);
  CHECK(bad->tracestate.empty());
}
