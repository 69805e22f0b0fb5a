// Profile handlers (which profiles run for a request, and what the result is) and the P/D
// deciders they consult.
#pragma once

#include <string>

#include "actors/picker/scheduling/plugin.hpp"

namespace inferstack::actors::picker {

/// Fills a result's targets from a profile run (names and addresses from the pool).
void set_targets(const cycle& c, const profile_run& run, std::vector<pick_target>& out);

/// single-profile-handler: runs the one profile; its picks are the result.
class single_profile_handler : public profile_handler_plugin {
 public:
  /// `type`: also llm-d-router v0.10's data-parallel-profile-handler, which is this handler
  /// where each data-parallel rank is an endpoint of its own (as our pods' ranks are).
  explicit single_profile_handler(std::string name, std::string type = "single-profile-handler")
      : profile_handler_plugin(std::move(type), std::move(name)) {}
  void pick(cycle& c, std::vector<int>& to_run) override;
  void process_results(cycle& c, schedule_result& out) override;
};

/// prefix-based-pd-decider: disaggregate when the prompt's tokens not cached on the chosen
/// decode pod reach nonCachedTokens (0 disables); promptTokens is a minimum prompt length.
class prefix_based_pd_decider : public decider_plugin {
 public:
  prefix_based_pd_decider(std::string name, int non_cached_tokens, int prompt_tokens, int producer)
      : decider_plugin("prefix-based-pd-decider", std::move(name)),
        non_cached_tokens_(non_cached_tokens),
        prompt_tokens_(prompt_tokens),
        producer_(producer) {}
  bool disaggregate(cycle& c, uint32_t decode_endpoint) override;
  int producer() const { return producer_; }
  void set_producer(int p) { producer_ = p; }

 private:
  int non_cached_tokens_;
  int prompt_tokens_;
  int producer_;
};

/// always-disagg-pd-decider / always-disagg-multimodal-decider (the latter approves only
/// multimodal requests; requests reaching the picker are text, so it never does).
class constant_decider : public decider_plugin {
 public:
  constant_decider(std::string type, std::string name, bool answer)
      : decider_plugin(std::move(type), std::move(name)), answer_(answer) {}
  bool disaggregate(cycle&, uint32_t) override { return answer_; }

 private:
  bool answer_;
};

/// disagg-profile-handler (llm-d HEAD): decode always; encode and prefill stages gated by their
/// deciders; optional aggregated fallback profile when decode (or a required prefill) finds no
/// endpoint. Primary profile: decode.
class disagg_profile_handler : public profile_handler_plugin {
 public:
  struct settings {
    bool prefill_first = false;  ///< stageOrder: prefill-first
    std::string decode = "decode", prefill = "prefill", encode = "encode", fallback;
    decider_plugin* prefill_decider = nullptr;
    decider_plugin* encode_decider = nullptr;
  };
  disagg_profile_handler(std::string name, settings s)
      : profile_handler_plugin("disagg-profile-handler", std::move(name)), settings_(s) {}
  void pick(cycle& c, std::vector<int>& to_run) override;
  void process_results(cycle& c, schedule_result& out) override;
  const settings& config() const { return settings_; }
  void set_deciders(decider_plugin* prefill, decider_plugin* encode) {
    settings_.prefill_decider = prefill;
    settings_.encode_decider = encode;
  }

 private:
  settings settings_;
};

/// pd-profile-handler (llm-d v0.3, deprecated upstream): decode first; prefill runs when the
/// decider says so, or without a decider when threshold is 0 or the prompt's uncached suffix on
/// the decode pod is at least threshold tokens. A failed prefill falls back to decode only.
class pd_profile_handler : public profile_handler_plugin {
 public:
  struct settings {
    int threshold = 0;
    std::string decode = "decode", prefill = "prefill";
    decider_plugin* decider = nullptr;
    int producer = -1;
  };
  pd_profile_handler(std::string name, settings s)
      : profile_handler_plugin("pd-profile-handler", std::move(name)), settings_(s) {}
  void pick(cycle& c, std::vector<int>& to_run) override;
  void process_results(cycle& c, schedule_result& out) override;
  settings& config() { return settings_; }

 private:
  bool wants_prefill(cycle& c, uint32_t decode);
  settings settings_;
};

}  // namespace inferstack::actors::picker
