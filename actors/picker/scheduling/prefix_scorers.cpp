// Scorers that read a prefix producer's matches: prefix-cache-scorer (approximate or precise
// matches; with llm-d v0.2's mode: cache_tracking, the precise scorer), precise-prefix-cache-scorer
// (its own KV-event index) and no-hit-lru-scorer (cold requests go to the least recently used
// pods).
#include <algorithm>
#include <bit>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/plugin_registry.hpp"
#include "actors/picker/scheduling/producers.hpp"
#include "actors/picker/scheduling/scorers.hpp"

namespace inferstack::actors::picker {

// -- no-hit-lru -------------------------------------------------------------------------------

void no_hit_lru_scorer::touch(const std::string& pod) {
  auto it = std::find(lru_.begin(), lru_.end(), pod);
  if (it != lru_.end()) lru_.erase(it);
  lru_.push_back(pod);
  if (lru_.size() > lru_size_) lru_.erase(lru_.begin());
}

void no_hit_lru_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  bool cold = true;
  if (producer_ >= 0) {
    for (uint32_t id : c.endpoints)
      if (c.match(producer_, id).match_blocks > 0) cold = false;
  }
  c.memo->plugin_state[state_slot] = cold ? 1.0 : 0.0;
  if (!cold) {
    for (auto& v : out)
      v = 0.5;
    return;
  }
  size_t n = cand.size();
  if (n == 1) {
    out[0] = 1.0;
    return;
  }
  size_t never_used = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto& name = c.endpoint(cand[i]).name;
    if (std::find(lru_.begin(), lru_.end(), name) == lru_.end()) {
      out[i] = 1.0 - static_cast<double>(never_used) / static_cast<double>(n - 1);
      ++never_used;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& name = c.endpoint(cand[i]).name;
    auto it = std::find(lru_.begin(), lru_.end(), name);
    if (it == lru_.end()) continue;
    auto rank = static_cast<double>(never_used + static_cast<size_t>(it - lru_.begin()));
    out[i] = std::max(0.0, 1.0 - rank / static_cast<double>(n - 1));
  }
}

void no_hit_lru_scorer::pre_request(hook_context& h) {
  if (!h.result || !h.result->ok() || h.memo->plugin_state[state_slot] == 0.0) return;
  touch(h.result->primary().name);
  if (h.result->prefill) touch(h.result->prefill->name);
}

void no_hit_lru_scorer::endpoint_removed(uint32_t, const endpoint_state& e) {
  auto it = std::find(lru_.begin(), lru_.end(), e.name);
  if (it != lru_.end()) lru_.erase(it);
}

// -- prefix scorers ---------------------------------------------------------------------------

namespace {

// Most candidates of a pick share a match (no hit, or the same shared prefix): the score of the
// previous candidate is reused when its match was the same (weighted compared bit for bit), which
// saves a division per pod and gives the same value.
struct last_match {
  uint64_t weighted_bits = 0;
  uint32_t blocks = 0, total = 0, block_size = 0;
  bool set = false;
  double score = 0;

  bool same(const prefix_match& m, uint64_t bits) const {
    return set && bits == weighted_bits && m.match_blocks == blocks && m.total_blocks == total &&
           m.block_size == block_size;
  }
  void remember(const prefix_match& m, uint64_t bits, double s) {
    weighted_bits = bits;
    blocks = m.match_blocks;
    total = m.total_blocks;
    block_size = m.block_size;
    set = true;
    score = s;
  }
};

}  // namespace

void prefix_cache_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  if (producer_ < 0) return;
  const auto& matches = (*c.prefix)[producer_];
  last_match last;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& m = matches[cand[i]];
    if (!m.valid || m.total_blocks == 0) continue;
    uint64_t bits = std::bit_cast<uint64_t>(m.weighted);
    if (last.same(m, bits)) {
      out[i] = last.score;
      continue;
    }
    double ratio = m.weighted / m.total_blocks;
    double length = 0;
    if (m.block_size > 0 && max_model_len_ > 0) {
      length = std::min(1.0, static_cast<double>(m.match_blocks) * m.block_size / max_model_len_);
      length *= length;
    }
    out[i] = length_weight_ * length + (1.0 - length_weight_) * ratio;
    last.remember(m, bits, out[i]);
  }
}

void precise_prefix_scorer::score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) {
  const auto& matches = (*c.prefix)[producer_->producer_index];
  last_match last;
  for (size_t i = 0; i < cand.size(); ++i) {
    const auto& m = matches[cand[i]];
    if (!m.valid || m.total_blocks == 0) continue;
    uint64_t bits = std::bit_cast<uint64_t>(m.weighted);
    if (last.same(m, bits)) {
      out[i] = last.score;
      continue;
    }
    out[i] = std::clamp(m.weighted / m.total_blocks, 0.0, 1.0);
    last.remember(m, bits, out[i]);
  }
}

// -- factories --------------------------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

void make_no_hit_lru(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  int lru = 1024;
  p.get("lruSize", lru);
  std::string ignored, producer;
  p.get("prefixPluginType", ignored);  // deprecated, never used upstream
  p.get("prefixPluginName", ignored);
  p.get("prefixMatchInfoProducerName", producer);
  auto* scorer = b.add(std::make_unique<no_hit_lru_scorer>(s.name, lru > 0 ? lru : 1024, -1), &s);
  auto path = p.child_path("prefixMatchInfoProducerName");
  b.later([&b, scorer, producer, path] { scorer->set_producer(b.producer_ref(producer, path)); });
}

// precise-prefix-cache-scorer: a private precise producer (the pods' KV events) and its scorer.
void make_precise(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  auto settings = read_precise_params(b, p);
  auto* prod = b.add(
      std::make_unique<precise_prefix_producer>("precise-prefix-cache-scorer", s.name, settings),
      nullptr);
  b.picker().add_producer(prod);
  b.add(std::make_unique<precise_prefix_scorer>(s.name, prod), &s);
}

// The top-level parameters that only one mode of prefix-cache-scorer reads.
std::vector<std::string> precise_only_keys() {
  std::vector<std::string> out;
  for (const auto& param : precise_prefix_params()) {
    auto top = std::string(param.name.substr(0, param.name.find('.')));
    if (std::find(out.begin(), out.end(), top) == out.end()) out.push_back(top);
  }
  return out;
}

std::vector<std::string> estimate_only_keys() {
  std::vector<std::string> out = {
      "prefixMatchInfoProducerName", "prefixLengthWeight",     "maxModelLen",
      "matchLengthWeight",           "matchLengthScaleTokens", "hashBlockSize"};
  for (const auto& param : approx_prefix_params())
    out.emplace_back(param.name);
  return out;
}

// Takes `keys` so they are not reported as unknown too; each present one is a problem
// (`why`) unless `why` is empty (the mode itself is already wrong).
void refuse_keys(plugin_builder& b, fields& p, const std::vector<std::string>& keys,
                 const std::string& why) {
  for (const auto& k : keys) {
    if (!p.has(k)) continue;
    if (!why.empty()) b.problem(p.child_path(k), why);
    p.raw(k);
  }
}

void make_prefix_cache(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  // llm-d-inference-scheduler v0.2 (pkg/plugins/scorer/prefix_cache.go) chose the scorer by
  // mode: estimate (the default: the picker's own routing history, GAIE's scorer below) or
  // cache_tracking (the pods' KV events: the precise scorer, with its parameters, indexerConfig
  // and kvEventsConfig). Each mode refuses the other's parameters by name.
  std::string mode = "estimate";
  p.get_enum("mode", mode, {"estimate", "cache_tracking"});
  bool bad_mode =
      p.has("mode") && !(p.node()["mode"].IsScalar() && p.node()["mode"].Scalar() == mode);
  if (mode == "cache_tracking") {
    refuse_keys(b, p, estimate_only_keys(), "is not read with mode: cache_tracking");
    make_precise(b, s, p);
    return;
  }
  refuse_keys(b, p, precise_only_keys(), bad_mode ? "" : "is read with mode: cache_tracking only");
  std::string producer;
  p.get("prefixMatchInfoProducerName", producer);
  double weight = 0;
  int max_len = 0;
  p.get("prefixLengthWeight", weight);
  p.get("maxModelLen", max_len);
  p.get("matchLengthWeight", weight);  // the names llm-d's README uses elsewhere
  int scale = 8192;
  p.get("matchLengthScaleTokens", scale);
  if (p.has("matchLengthScaleTokens") || (p.has("matchLengthWeight") && !p.has("maxModelLen")))
    max_len = scale;
  check_range(b, p, "prefixLengthWeight", weight, 0.0, 1.0, "must be between 0.0 and 1.0");
  check_range(b, p, "matchLengthWeight", weight, 0.0, 1.0, "must be between 0.0 and 1.0");
  if (p.has("maxModelLen") && max_len <= 0)
    b.problem(p.child_path("maxModelLen"), "must be greater than 0");
  if (p.has("prefixLengthWeight") && weight > 0 && !p.has("maxModelLen"))
    b.problem(p.child_path("maxModelLen"),
              "must be specified when prefixLengthWeight is greater than 0");
  // GAIE's single-plugin prefix-cache-scorer carried the indexer parameters itself: such a
  // scorer gets a private approximate producer configured by them.
  bool legacy = false;
  for (const char* k : {"autoTune", "blockSize", "blockSizeTokens", "hashBlockSize",
                        "maxPrefixBlocksToMatch", "maxPrefixTokensToMatch", "lruCapacityPerServer"})
    legacy = legacy || p.has(k);
  auto* scorer = b.add(std::make_unique<prefix_cache_scorer>(s.name, -1, weight, max_len), &s);
  if (legacy) {
    auto settings = read_approx_params(b, p, true);
    auto* prod = b.add(std::make_unique<approx_prefix_producer>(s.name, settings), nullptr);
    b.picker().add_producer(prod);
    scorer->set_producer(prod->producer_index);
    if (!producer.empty())
      b.problem(p.child_path("prefixMatchInfoProducerName"),
                "cannot be combined with the scorer's own indexer parameters");
    return;
  }
  auto path = p.child_path("prefixMatchInfoProducerName");
  b.later([&b, scorer, producer, path] { scorer->set_producer(b.producer_ref(producer, path)); });
}

std::vector<plugin_param> prefix_cache_params() {
  std::vector<plugin_param> out = {
      {"mode", "estimate (cache_tracking: the precise scorer, from tokenProcessorConfig on)"},
      {"prefixMatchInfoProducerName", "the default producer"},
      {"prefixLengthWeight", "0"},
      {"maxModelLen", "- (needed when prefixLengthWeight > 0)"},
      {"matchLengthWeight", "0 (alias of prefixLengthWeight)"},
      {"matchLengthScaleTokens", "8192 (maxModelLen when matchLengthWeight is given)"},
      {"hashBlockSize", "- (GAIE v1.0 characters; own producer)"},
  };
  // Any of the producer's parameters gives the scorer a private producer (GAIE v1.0).
  for (const auto& param : approx_prefix_params())
    out.push_back(param);
  // mode: cache_tracking reads precise-prefix-cache-scorer's parameters.
  for (const auto& param : precise_prefix_params())
    out.push_back(param);
  return out;
}

}  // namespace

const std::vector<plugin_factory>& prefix_scorer_factories() {
  static const std::vector<plugin_factory> list = {
      {"no-hit-lru-scorer",
       plugin_kind::scorer,
       {{"lruSize", "1024"},
        {"prefixPluginType", "- (deprecated)"},
        {"prefixPluginName", "- (deprecated)"},
        {"prefixMatchInfoProducerName", "the default producer"}},
       make_no_hit_lru},
      {"prefix-cache-scorer", plugin_kind::scorer, prefix_cache_params(), make_prefix_cache},
      {"precise-prefix-cache-scorer", plugin_kind::scorer, precise_prefix_params(), make_precise},
  };
  return list;
}

}  // namespace inferstack::actors::picker
