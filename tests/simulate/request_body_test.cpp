// The prompts and bodies virtual clients send: made-up prompts have exactly the tokens asked for
// with the stack's tokenizer, equal prefix blocks and equal questions are equal text, given texts
// are sent as they are, and the body is the OpenAI request the workload describes.
#include "simulate/request_body.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/tokenizer.hpp"

using namespace inferstack::simulate;
using inferstack::runtime::tokenize;

namespace {

workload_request counted(uint32_t tokens) {
  workload_request r;
  r.prompt_tokens = tokens;
  return r;
}

workload_request with_blocks(uint32_t tokens, std::vector<uint64_t> blocks, uint32_t block_tokens) {
  auto r = counted(tokens);
  r.prefix_blocks = std::move(blocks);
  r.prefix_block_tokens = block_tokens;
  return r;
}

/// How many leading tokens two token sequences share.
size_t common_tokens(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n])
    ++n;
  return n;
}

std::vector<uint32_t> tail(const std::vector<uint32_t>& v, size_t from) {
  return {v.begin() + static_cast<std::ptrdiff_t>(from), v.end()};
}

}  // namespace

TEST_CASE("a made-up prompt has exactly prompt_tokens tokens with the stack's tokenizer") {
  request_bodies bodies;
  for (uint32_t n : {1u, 2u, 7u, 100u, 1000u, 4096u}) {
    INFO("prompt_tokens " << n);
    CHECK(tokenize(bodies.prompt(counted(n), n)).size() == n);
    CHECK(tokenize(bodies.prompt(with_blocks(n, {1, 2, 3}, 64), n)).size() == n);
    auto shared = counted(n);
    shared.shared_prefix = "system-a";
    CHECK(tokenize(bodies.prompt(shared, n)).size() == n);
    auto question = counted(n);
    question.prompt_id = 9;
    CHECK(tokenize(bodies.prompt(question, n)).size() == n);
  }
  CHECK(bodies.prompt(counted(0), 0).empty());
  // The same request gives the same text every time, and in another request_bodies.
  request_bodies other;
  auto r = with_blocks(300, {5, 6}, 128);
  CHECK(bodies.prompt(r, 42) == other.prompt(r, 42));
  CHECK(bodies.prompt(r, 42) == bodies.prompt(r, 42));
}

TEST_CASE(
    "requests with the same prefix blocks share exactly those blocks' tokens and differ after") {
  request_bodies bodies;
  // Two blocks of 64 tokens in common, then each request's own words.
  auto a = tokenize(bodies.prompt(with_blocks(200, {11, 12}, 64), 0));
  auto b = tokenize(bodies.prompt(with_blocks(200, {11, 12}, 64), 1));
  CHECK(common_tokens(a, b) == 2 * 64);
  // One block in common, the second differs.
  auto c = tokenize(bodies.prompt(with_blocks(200, {11, 13}, 64), 0));
  CHECK(common_tokens(a, c) == 64);
  // No block in common: nothing shared.
  auto d = tokenize(bodies.prompt(with_blocks(200, {14, 12}, 64), 0));
  CHECK(common_tokens(a, d) == 0);
  // A block id is the same text whatever request index uses it, and Mooncake's 512-token blocks.
  auto e = tokenize(bodies.prompt(with_blocks(3 * 512 + 10, {1, 2, 3}, 512), 7));
  auto f = tokenize(bodies.prompt(with_blocks(3 * 512 + 10, {1, 2, 3}, 512), 8));
  CHECK(common_tokens(e, f) == 3 * 512);
}

TEST_CASE("a prompt shorter than its prefix blocks ends inside them") {
  request_bodies bodies;
  // Mooncake: 1,000 tokens with two 512-token blocks -- all of the first, 488 of the second.
  auto short_one = with_blocks(1000, {21, 22}, 512);
  auto text = bodies.prompt(short_one, 0);
  auto tokens = tokenize(text);
  CHECK(tokens.size() == 1000);
  auto full = tokenize(bodies.prompt(with_blocks(1024 + 50, {21, 22}, 512), 1));
  CHECK(common_tokens(tokens, full) == 1000);
  // Fewer tokens than the first block: a piece of it.
  auto tiny = tokenize(bodies.prompt(with_blocks(3, {21, 22}, 512), 2));
  CHECK(tiny.size() == 3);
  CHECK(common_tokens(tiny, full) == 3);
}

TEST_CASE(
    "the same prompt_id sends the same text after the blocks, another id or none a different one") {
  request_bodies bodies;
  auto ask = [&](std::vector<uint64_t> blocks, uint64_t id, uint64_t index) {
    auto r = with_blocks(100, std::move(blocks), 32);
    r.prompt_id = id;
    return tokenize(bodies.prompt(r, index));
  };
  auto a = ask({1}, 7, 0);
  auto b = ask({2}, 7, 1);  // other blocks, the same question, another request
  REQUIRE(a.size() == 100);
  REQUIRE(b.size() == 100);
  CHECK(common_tokens(a, b) == 0);
  CHECK(tail(a, 32) == tail(b, 32));
  // Another question, or none (the request's own words), after the same block.
  auto c = ask({1}, 8, 0);
  auto d = ask({1}, 0, 0);
  auto e = ask({1}, 0, 1);
  CHECK(common_tokens(a, c) == 32);
  CHECK(common_tokens(a, d) == 32);
  CHECK(common_tokens(d, e) == 32);
  // Without blocks the whole prompt is the question's.
  auto q1 = counted(50), q2 = counted(50);
  q1.prompt_id = q2.prompt_id = 3;
  CHECK(bodies.prompt(q1, 10) == bodies.prompt(q2, 11));
  // A question id and a request index of the same number are not the same text.
  auto own = counted(50);
  CHECK(common_tokens(tokenize(bodies.prompt(q1, 3)), tokenize(bodies.prompt(own, 3))) == 0);
}

TEST_CASE(
    "a plain-trace shared_prefix without blocks shares the first three quarters of the tokens") {
  request_bodies bodies;
  for (uint32_t n : {1u, 2u, 3u, 4u, 10u, 101u, 1000u}) {
    INFO("prompt_tokens " << n);
    auto a = counted(n), b = counted(n), other = counted(n);
    a.shared_prefix = b.shared_prefix = "doc-1";
    other.shared_prefix = "doc-2";
    auto ta = tokenize(bodies.prompt(a, 0));
    auto tb = tokenize(bodies.prompt(b, 1));
    REQUIRE(ta.size() == n);
    size_t shared = (3 * size_t{n} + 3) / 4;  // ceil(3n/4), at least one
    CHECK(common_tokens(ta, tb) == shared);
    CHECK(common_tokens(ta, tokenize(bodies.prompt(other, 0))) == 0);
  }
  // Blocks win over shared_prefix.
  auto both = with_blocks(100, {4}, 16);
  both.shared_prefix = "doc-1";
  CHECK(bodies.prompt(both, 0) == bodies.prompt(with_blocks(100, {4}, 16), 0));
}

TEST_CASE("a given prompt text is sent as it is, escaped in the body") {
  request_bodies bodies;
  workload_request r;
  r.prompt = "say \"hi\" to C:\\path\\ and\nthen\ttab \x01 caf\u00e9 \u2603 \U0001F600 end";
  r.prompt_tokens = 3;  // a count beside a text does not change the text
  r.prefix_blocks = {1};
  r.prefix_block_tokens = 2;
  CHECK(bodies.prompt(r, 0) == r.prompt);
  for (bool chat : {false, true}) {
    r.chat = chat;
    auto body = nlohmann::json::parse(bodies.body(r, 0, "my \"model\""));
    CHECK(body["model"] == "my \"model\"");
    if (chat)
      CHECK(body["messages"][0]["content"] == r.prompt);
    else
      CHECK(body["prompt"] == r.prompt);
  }
}

TEST_CASE("the body is a completions or chat request with max_tokens, stream and ignore_eos") {
  request_bodies bodies;
  auto r = with_blocks(40, {1}, 16);
  auto prompt = bodies.prompt(r, 5);

  auto plain = nlohmann::json::parse(bodies.body(r, 5, "llama"));
  CHECK(plain == nlohmann::json{{"model", "llama"}, {"prompt", prompt}});

  r.max_tokens = 200;
  r.stream = true;
  r.ignore_eos = true;
  auto all = nlohmann::json::parse(bodies.body(r, 5, "llama"));
  CHECK(all == nlohmann::json{{"model", "llama"},
                              {"prompt", prompt},
                              {"max_tokens", 200},
                              {"stream", true},
                              {"stream_options", {{"include_usage", true}}},
                              {"ignore_eos", true}});

  r.chat = true;
  r.ignore_eos = false;
  auto chat = nlohmann::json::parse(bodies.body(r, 5, "llama"));
  CHECK(chat == nlohmann::json{{"model", "llama"},
                               {"messages", {{{"role", "user"}, {"content", prompt}}}},
                               {"max_tokens", 200},
                               {"stream", true},
                               {"stream_options", {{"include_usage", true}}}});
  CHECK_FALSE(chat.contains("prompt"));
}

TEST_CASE("a full block cache gives the same prompts as a large one") {
  request_bodies large;
  request_bodies tiny(1);           // no block fits: every block's text is made again each time
  request_bodies some(64 * 7 * 3);  // three 64-token blocks fit, the rest do not
  for (uint64_t i = 0; i < 40; ++i) {
    // Blocks reused across requests, in changing orders and lengths.
    std::vector<uint64_t> blocks = {i % 5, (i * 3) % 7 + 10, i % 2 + 20, i + 100};
    auto r = with_blocks(static_cast<uint32_t>(64 * 3 + i * 5), blocks, 64);
    r.prompt_id = i % 3;
    auto expected = large.prompt(r, i);
    INFO("request " << i);
    CHECK(tiny.prompt(r, i) == expected);
    CHECK(some.prompt(r, i) == expected);
    CHECK(tiny.body(r, i, "m") == large.body(r, i, "m"));
  }
}
