// Prompts made of words from a 64-bit mix (splitmix64) of their seed and position: cheap,
// the same on every machine, and next to no chance that two different seeds share a word run.
#include "simulate/request_body.hpp"

#include "runtime/json_escape.hpp"

namespace inferstack::simulate {

namespace {

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t fnv1a_64(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

// Seeds of different kinds of text must not meet: a block id, a question and a request index
// may be the same number.
constexpr uint64_t block_kind = 0x1000000000000000ULL;
constexpr uint64_t question_kind = 0x2000000000000000ULL;
constexpr uint64_t own_kind = 0x3000000000000000ULL;
constexpr uint64_t shared_kind = 0x4000000000000000ULL;

}  // namespace

void append_words(std::string& out, uint64_t seed, uint32_t n) {
  out.reserve(out.size() + size_t{n} * 7);
  uint64_t state = mix(seed);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t h = mix(state + i);
    // A letter first: a word of digits only would still be one token, but reads oddly.
    out += alphabet[h % 26];
    h /= 26;
    for (int c = 0; c < 5; ++c) {
      out += alphabet[h % 36];
      h /= 36;
    }
    out += ' ';
  }
}

const std::string& request_bodies::block_text(uint64_t block, uint32_t tokens) {
  auto it = blocks_.find(block);
  if (it != blocks_.end() && it->second.size() == size_t{tokens} * 7) return it->second;
  std::string text;
  append_words(text, block_kind ^ mix(block), tokens);
  if (it != blocks_.end()) {  // the same id at another length: this one replaces it
    cached_bytes_ -= it->second.size();
    blocks_.erase(it);
  }
  if (cached_bytes_ + text.size() > cache_limit_) {
    scratch_ = std::move(text);
    return scratch_;
  }
  cached_bytes_ += text.size();
  return blocks_[block] = std::move(text);
}

std::string request_bodies::prompt(const workload_request& r, uint64_t index) {
  if (!r.prompt.empty()) return r.prompt;
  std::string out;
  uint32_t left = r.prompt_tokens;
  if (!r.prefix_blocks.empty() && r.prefix_block_tokens > 0) {
    for (uint64_t block : r.prefix_blocks) {
      if (left == 0) break;
      const auto& text = block_text(block, r.prefix_block_tokens);
      uint32_t take = std::min(left, r.prefix_block_tokens);
      out.append(text, 0, size_t{take} * 7);
      left -= take;
    }
  } else if (!r.shared_prefix.empty()) {
    uint32_t shared = std::max<uint32_t>(1, (r.prompt_tokens * 3 + 3) / 4);
    shared = std::min(shared, left);
    append_words(out, shared_kind ^ fnv1a_64(r.shared_prefix), shared);
    left -= shared;
  }
  if (left > 0)
    append_words(out, r.prompt_id ? question_kind ^ mix(r.prompt_id) : own_kind ^ mix(index), left);
  return out;
}

std::string request_bodies::body(const workload_request& r, uint64_t index,
                                 const std::string& model) {
  // Written by hand, not through a JSON tree: the prompt is most of the body, and a tree would
  // copy and escape-scan it once more for every request.
  auto text = prompt(r, index);
  std::string b;
  b.reserve(text.size() + model.size() + 160);
  b += R"({"model":")";
  b += runtime::json_escape(model);
  b += r.chat ? R"(","messages":[{"role":"user","content":")" : R"(","prompt":")";
  b += r.prompt.empty() ? text : runtime::json_escape(text);  // made-up words need no escapes
  b += r.chat ? "\"}]" : "\"";
  if (r.max_tokens > 0) b += ",\"max_tokens\":" + std::to_string(r.max_tokens);
  if (r.stream) b += R"(,"stream":true,"stream_options":{"include_usage":true})";
  if (r.ignore_eos) b += R"(,"ignore_eos":true)";
  b += '}';
  return b;
}

}  // namespace inferstack::simulate
