#include "actors/pod/response_text.hpp"

#include <algorithm>
#include <cmath>

#include "actors/pod/engine/latency.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::actors::pod {

namespace {

// The sentences llm-d-inference-sim draws random text from (its pkg/dataset/dataset.go,
// Apache-2.0, Copyright 2025 The llm-d-inference-sim Authors), so that a client's check of the
// text -- its suite's dataset.IsValidText: whole sentences, the last one possibly cut -- holds
// for either server. Each ends with a space, as there.
constexpr std::string_view sentences[] = {
    R"s(Testing@, #testing 1$ ,2%,3^, [4&*5], 6~, 7-_ + (8 : 9) / \ < > . )s",
    "Testing, testing 1,2,3. ",
    "I am fine, how are you today? ",
    "I am your AI assistant, how can I help you today? ",
    "Today is a nice sunny day. ",
    "The temperature here is twenty-five degrees centigrade. ",
    "Today it is partially cloudy and raining. ",
    "To be or not to be that is the question. ",
    "Alas, poor Yorick! I knew him, Horatio: A fellow of infinite jest ",
    "The rest is silence. ",
    "Give a man a fish and you feed him for a day; teach a man to fish and you feed him for a "
    "lifetime ",
};

/// Each sentence as the tokenizer splits it (the pieces join back into the sentence).
const std::vector<std::vector<std::string_view>>& sentence_tokens() {
  static const auto tokens = [] {
    std::vector<std::vector<std::string_view>> out;
    for (auto sentence : sentences)
      out.push_back(runtime::split_tokens(sentence));
    return out;
  }();
  return tokens;
}

}  // namespace

response_planner::response_planner(std::string mode, output_length_spec length,
                                   uint32_t max_model_len, uint64_t seed)
    : echo_(mode == "echo"), length_(length), max_model_len_(max_model_len), rng_(seed) {}

uint32_t response_planner::sim_length(uint32_t prompt_tokens, int64_t max_tokens) {
  auto uniform = [&](uint64_t lo, uint64_t hi) {
    return static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(lo, hi)(rng_));
  };
  if (max_tokens > 0) {
    auto max = static_cast<uint64_t>(max_tokens);
    if (max <= 6) return uniform(1, max);
    // Six buckets with these probabilities; the last returns exactly max (finish: length).
    static constexpr double probabilities[] = {0.2, 0.3, 0.2, 0.05, 0.1, 0.15};
    double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    int bucket = 0;
    for (double acc = probabilities[0]; bucket < 5 && u >= acc; acc += probabilities[++bucket]) {
    }
    if (bucket == 5) return static_cast<uint32_t>(max);
    uint64_t lo, hi;
    if (max <= 101) {
      uint64_t width = (max - 1) / 5;
      lo = 1 + static_cast<uint64_t>(bucket) * width;
      hi = bucket == 4 ? max - 1 : lo + width - 1;
    } else {
      lo = 1 + 20 * static_cast<uint64_t>(bucket);
      hi = bucket == 4 ? max - 1 : lo + 19;
    }
    return uniform(lo, std::max(lo, hi));
  }
  uint64_t limit = max_model_len_ > prompt_tokens ? max_model_len_ - prompt_tokens : 1;
  if (limit < 20) return uniform(1, limit);
  for (;;) {
    double n = 40 + 20 * engine::standard_normal(rng_);
    auto rounded = static_cast<int64_t>(std::llround(n));
    if (rounded >= 1 && static_cast<uint64_t>(rounded) <= limit)
      return static_cast<uint32_t>(rounded);
  }
}

uint32_t response_planner::draw_length(uint32_t prompt_tokens, int64_t max_tokens,
                                       bool ignore_eos) {
  if (ignore_eos && max_tokens > 0) return static_cast<uint32_t>(max_tokens);
  uint32_t n = 1;
  switch (length_.type) {
    case output_length_spec::kind::sim:
      return sim_length(prompt_tokens, max_tokens);
    case output_length_spec::kind::fixed:
      n = static_cast<uint32_t>(length_.a);
      break;
    case output_length_spec::kind::uniform:
      n = static_cast<uint32_t>(std::uniform_int_distribution<uint64_t>(
          static_cast<uint64_t>(length_.a), static_cast<uint64_t>(length_.b))(rng_));
      break;
    case output_length_spec::kind::normal:
      n = static_cast<uint32_t>(std::max<int64_t>(
          1, std::llround(length_.a + length_.b * engine::standard_normal(rng_))));
      break;
  }
  if (max_tokens > 0) n = std::min<uint32_t>(n, static_cast<uint32_t>(max_tokens));
  return std::max<uint32_t>(1, n);
}

planned_output encoder_only_output(int64_t max_tokens) {
  planned_output out;
  out.pieces.assign(max_tokens > 0 ? static_cast<size_t>(max_tokens) : 1, "!");
  out.token_ids.assign(out.pieces.size(), runtime::fnv1a_32("!"));
  out.finish_reason = "length";
  return out;
}

planned_output response_planner::plan(std::string_view echo_text, uint32_t prompt_tokens,
                                      int64_t max_tokens, bool ignore_eos) {
  planned_output out;
  if (echo_) {
    for (auto piece : runtime::split_tokens(echo_text))
      out.pieces.emplace_back(piece);
    if (out.pieces.empty()) out.pieces.emplace_back(".");
    // As llm-d-inference-sim: the whole text comes back whatever max_tokens says; max_tokens
    // only decides whether the finish is `length` (the echo reached it) or `stop`.
    out.finish_reason =
        max_tokens > 0 && out.pieces.size() >= static_cast<size_t>(max_tokens) ? "length" : "stop";
    if (ignore_eos && max_tokens > 0 && out.pieces.size() < static_cast<size_t>(max_tokens)) {
      // ignore_eos: generate exactly max_tokens, repeating the echo as vLLM would keep going.
      size_t original = out.pieces.size();
      while (out.pieces.size() < static_cast<size_t>(max_tokens))
        out.pieces.push_back(out.pieces[out.pieces.size() % original]);
      out.finish_reason = "length";
    }
  } else {
    // As the simulator: random sentences, whole, until n tokens; the last one is cut there.
    uint32_t n = draw_length(prompt_tokens, max_tokens, ignore_eos);
    out.pieces.reserve(n);
    const auto& bank = sentence_tokens();
    std::uniform_int_distribution<size_t> pick(0, bank.size() - 1);
    while (out.pieces.size() < n) {
      for (auto piece : bank[pick(rng_)]) {
        if (out.pieces.size() == n) break;
        out.pieces.emplace_back(piece);
      }
    }
    out.finish_reason =
        max_tokens > 0 && n == static_cast<uint32_t>(max_tokens) ? "length" : "stop";
  }
  out.token_ids.reserve(out.pieces.size());
  for (const auto& p : out.pieces)
    out.token_ids.push_back(runtime::fnv1a_32(p));
  return out;
}

}  // namespace inferstack::actors::pod
