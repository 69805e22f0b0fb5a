// Scorers, with llm-d's type names and algorithms. Every score lands in [0,1] (the scheduler
// clamps anyway). Load scorers treat a stale pod (silent past the staleness bound, or never
// reported) as fully loaded: it scores 0, but stays a candidate. Implemented in scorers.cpp
// (load and LoRA), session_affinity_scorer.cpp and prefix_scorers.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors/picker/scheduling/plugin.hpp"
#include "runtime/base64.hpp"

namespace inferstack::actors::picker {

class precise_prefix_producer;

/// queue-scorer: min-max over waiting queues, shortest 1, longest 0, all equal 1.
class queue_scorer : public scorer_plugin {
 public:
  explicit queue_scorer(std::string name) : scorer_plugin("queue-scorer", std::move(name)) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;

 private:
  std::vector<int> counts_;     ///< per candidate, this cycle (INT_MIN: no fresh metrics)
  std::vector<double> ratios_;  ///< (hi - count) / span by hi - count, this cycle
};

/// running-requests-size-scorer: min-max over running requests, like queue-scorer.
class running_requests_scorer : public scorer_plugin {
 public:
  explicit running_requests_scorer(std::string name)
      : scorer_plugin("running-requests-size-scorer", std::move(name)) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;

 private:
  std::vector<int> counts_;     ///< per candidate, this cycle (INT_MIN: no fresh metrics)
  std::vector<double> ratios_;  ///< (hi - count) / span by hi - count, this cycle
};

/// kv-cache-utilization-scorer: 1 - kv usage.
class kv_cache_utilization_scorer : public scorer_plugin {
 public:
  explicit kv_cache_utilization_scorer(std::string name)
      : scorer_plugin("kv-cache-utilization-scorer", std::move(name)) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
};

/// load-aware-scorer (llm-d): empty queue 0.5, else 0.5 * (1 - min(q, threshold) / threshold).
class load_aware_scorer : public scorer_plugin {
 public:
  load_aware_scorer(std::string name, int threshold)
      : scorer_plugin("load-aware-scorer", std::move(name)),
        threshold_(threshold > 0 ? threshold : 128) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  int threshold() const { return threshold_; }

 private:
  int threshold_;
};

/// active-request-scorer (llm-d): requests this picker has in flight on each pod; count <=
/// idleThreshold scores 1, busier pods (max - count) / max * maxBusyScore.
class active_request_scorer : public scorer_plugin {
 public:
  active_request_scorer(std::string name, int idle_threshold, double max_busy_score)
      : scorer_plugin("active-request-scorer", std::move(name)),
        idle_threshold_(idle_threshold),
        max_busy_score_(max_busy_score) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;

 private:
  int idle_threshold_;
  double max_busy_score_;
};

/// token-load-scorer (llm-d): 1 - min(1, in-flight uncached tokens / queueThresholdTokens).
class token_load_scorer : public scorer_plugin {
 public:
  token_load_scorer(std::string name, int64_t threshold_tokens)
      : scorer_plugin("token-load-scorer", std::move(name)), threshold_(threshold_tokens) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;

 private:
  int64_t threshold_;
};

/// lora-affinity-scorer. From vllm:lora_requests_info (GAIE's): adapter active 1.0; room to
/// load 0.8; queued 0.6; full 0. From residency (vllm:lora_adapter_loaded, or our pods' load
/// reports; the ranking of llm-d-router #2605): on the GPU 1.0; in the CPU cache 0.7, free GPU
/// slot 0.6, a slot held by an idle adapter 0.3 (these three only while some slot is free or
/// idle); every slot running other adapters 0. The pod's base model scores 1.0 everywhere.
class lora_affinity_scorer : public scorer_plugin {
 public:
  explicit lora_affinity_scorer(std::string name)
      : scorer_plugin("lora-affinity-scorer", std::move(name)) {}
  scorer_category category() const override { return scorer_category::affinity; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
};

/// session-affinity-scorer (llm-d). encoded_endpoint_header: the header carries base64 of the
/// pod that served the session last (the actor echoes session_token() on the response);
/// session_id_header: an opaque session id bound server-side to a pod, new sessions go to the
/// pod with the fewest bound sessions.
class session_affinity_scorer : public scorer_plugin {
 public:
  struct settings {
    std::string algorithm = "encoded_endpoint_header";
    std::string header = "x-session-token";
    std::string profile;  ///< "" : the primary profile's pick
    int64_t ttl_ns = 600'000'000'000;
    int miss_threshold = 3;
  };
  session_affinity_scorer(std::string name, settings s);
  scorer_category category() const override { return scorer_category::affinity; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  bool has_pre_request() const override { return true; }
  void pre_request(hook_context& h) override;
  void endpoint_removed(uint32_t id, const endpoint_state& e) override;

  const settings& config() const { return settings_; }
  /// The response header value naming `pod` (encoded_endpoint_header), "" otherwise.
  std::string response_token(std::string_view pod) const;
  size_t bound_sessions() const { return bindings_.size(); }

 private:
  struct binding {
    std::string pod;
    int64_t last_seen_ns;
    int misses;
  };
  void sweep(int64_t now_ns);
  uint32_t least_loaded(cycle& c, std::span<const uint32_t> cand);

  settings settings_;
  std::unordered_map<std::string, binding> bindings_;
  std::unordered_map<std::string, int> pod_sessions_;
  uint64_t cursor_ = 0;
  int64_t last_sweep_ns_ = 0;
};

using runtime::base64_decode;
using runtime::base64_encode;

/// no-hit-lru-scorer (llm-d): a cold request (no pod has any prefix hit) prefers the pod that
/// least recently took a cold request (never-used pods first); warm requests score 0.5.
class no_hit_lru_scorer : public scorer_plugin {
 public:
  no_hit_lru_scorer(std::string name, size_t lru_size, int producer)
      : scorer_plugin("no-hit-lru-scorer", std::move(name)),
        lru_size_(lru_size > 0 ? lru_size : 1024),
        producer_(producer) {}
  scorer_category category() const override { return scorer_category::distribution; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  bool has_pre_request() const override { return true; }
  void pre_request(hook_context& h) override;
  void endpoint_removed(uint32_t id, const endpoint_state& e) override;
  int producer() const { return producer_; }
  void set_producer(int p) { producer_ = p; }

 private:
  void touch(const std::string& pod);
  size_t lru_size_;
  int producer_;
  std::vector<std::string> lru_;  // oldest first
};

/// prefix-cache-scorer: score = w * min(1, matched tokens / maxModelLen)^2 + (1 - w) *
/// matched / total blocks (w = prefixLengthWeight, default 0: the plain ratio). Reads the match
/// of the configured producer (approximate by default, or precise).
class prefix_cache_scorer : public scorer_plugin {
 public:
  prefix_cache_scorer(std::string name, int producer, double length_weight, int max_model_len)
      : scorer_plugin("prefix-cache-scorer", std::move(name)),
        producer_(producer),
        length_weight_(length_weight),
        max_model_len_(max_model_len) {}
  scorer_category category() const override { return scorer_category::affinity; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  int producer() const { return producer_; }
  void set_producer(int p) { producer_ = p; }

 private:
  int producer_;
  double length_weight_;
  int max_model_len_;
};

/// precise-prefix-cache-scorer (llm-d): owns a KV-event index; score = tier-weighted longest
/// prefix / prompt blocks (llm-d HEAD's absolute normalisation).
class precise_prefix_scorer : public scorer_plugin {
 public:
  precise_prefix_scorer(std::string name, precise_prefix_producer* producer)
      : scorer_plugin("precise-prefix-cache-scorer", std::move(name)), producer_(producer) {}
  scorer_category category() const override { return scorer_category::affinity; }
  void score(cycle& c, std::span<const uint32_t> cand, std::span<double> out) override;
  precise_prefix_producer* producer() const { return producer_; }

 private:
  precise_prefix_producer* producer_;
};

}  // namespace inferstack::actors::picker
