#include "actors/picker/scheduling/profile_handlers.hpp"

#include <algorithm>
#include <cctype>

#include "actors/picker/scheduling/plugin_registry.hpp"

namespace inferstack::actors::picker {

namespace {

bool has_target(const cycle& c, int p) {
  if (p < 0 || (*c.states)[p] != run_state::ok) return false;
  const auto* run = c.run_of(p);
  return run && !run->targets.empty();
}

}  // namespace

void set_targets(const cycle& c, const profile_run& run, std::vector<pick_target>& out) {
  out.clear();
  for (uint32_t id : run.targets) {
    const auto& e = c.endpoint(id);
    out.push_back(pick_target{id, e.name, e.address});
  }
}

int cycle::profile_index(std::string_view name) const {
  for (size_t i = 0; i < profiles->size(); ++i)
    if ((*profiles)[i].name == name) return static_cast<int>(i);
  return -1;
}

// -- single-profile-handler -------------------------------------------------------------------

void single_profile_handler::pick(cycle& c, std::vector<int>& to_run) {
  if (!c.profiles->empty() && (*c.states)[0] == run_state::pending) to_run.push_back(0);
}

void single_profile_handler::process_results(cycle& c, schedule_result& out) {
  if (c.profiles->empty() || !has_target(c, 0)) {
    out.status = pick_status::all_filtered;
    out.reason = "no endpoints available for the given request";
    return;
  }
  out.primary_profile = (*c.profiles)[0].name;
  set_targets(c, *c.run_of(0), out.targets);
}

// -- deciders ---------------------------------------------------------------------------------

bool prefix_based_pd_decider::disaggregate(cycle& c, uint32_t decode_endpoint) {
  if (non_cached_tokens_ == 0) return false;
  auto input = static_cast<int64_t>(c.request->tokens.size());
  if (prompt_tokens_ > 0 && input < prompt_tokens_) return false;
  if (input < non_cached_tokens_) return false;
  if (producer_ < 0) return false;  // no prefix information: llm-d skips disaggregation
  const auto& m = c.match(producer_, decode_endpoint);
  if (!m.valid) return false;
  int64_t cached = static_cast<int64_t>(m.match_blocks) * m.block_size;
  return input - cached >= non_cached_tokens_;
}

// -- disagg-profile-handler -------------------------------------------------------------------

void disagg_profile_handler::pick(cycle& c, std::vector<int>& to_run) {
  auto& states = *c.states;
  int decode = c.profile_index(settings_.decode);
  int prefill = c.profile_index(settings_.prefill);
  int encode = c.profile_index(settings_.encode);
  int fallback = settings_.fallback.empty() ? -1 : c.profile_index(settings_.fallback);

  if (!settings_.prefill_first) {
    if (fallback >= 0 && states[fallback] != run_state::pending) return;  // attempted: done
    bool unavailable = (decode >= 0 && states[decode] == run_state::failed) ||
                       (prefill >= 0 && states[prefill] == run_state::failed);
    if (fallback >= 0 && unavailable) {
      to_run.push_back(fallback);
      return;
    }
    if (decode < 0) return;
    if (states[decode] == run_state::pending) {
      to_run.push_back(decode);
      return;
    }
    if (!has_target(c, decode)) return;
    uint32_t picked = c.run_of(decode)->targets.front();
    if (encode >= 0 && states[encode] == run_state::pending) {
      if (settings_.encode_decider && settings_.encode_decider->disaggregate(c, picked)) {
        to_run.push_back(encode);
        return;
      }
      states[encode] = run_state::skipped;
    }
    if (prefill >= 0 && states[prefill] == run_state::pending) {
      if (settings_.prefill_decider && settings_.prefill_decider->disaggregate(c, picked)) {
        to_run.push_back(prefill);
        return;
      }
      states[prefill] = run_state::skipped;  // declined, not failed
    }
    return;
  }
  // prefill-first: prefill whenever its profile exists, then encode, then decode.
  if (decode >= 0 && states[decode] != run_state::pending) return;
  if (prefill >= 0 && states[prefill] == run_state::pending) {
    to_run.push_back(prefill);
    return;
  }
  if (encode >= 0 && states[encode] == run_state::pending) {
    if (settings_.encode_decider && settings_.encode_decider->disaggregate(c, 0)) {
      to_run.push_back(encode);
      return;
    }
    states[encode] = run_state::skipped;
  }
  if (decode >= 0) to_run.push_back(decode);
}

void disagg_profile_handler::process_results(cycle& c, schedule_result& out) {
  auto& states = *c.states;
  int decode = c.profile_index(settings_.decode);
  int prefill = c.profile_index(settings_.prefill);
  int encode = c.profile_index(settings_.encode);
  int fallback = settings_.fallback.empty() ? -1 : c.profile_index(settings_.fallback);
  if (fallback >= 0 && states[fallback] != run_state::pending) {
    if (!has_target(c, fallback)) {
      out.status = pick_status::all_filtered;
      out.reason = "fallback profile \"" + settings_.fallback + "\" produced no target";
      return;
    }
    out.primary_profile = settings_.fallback;
    set_targets(c, *c.run_of(fallback), out.targets);
    out.disagg_decision = "aggregated-fallback";
    return;
  }
  if (!has_target(c, decode)) {
    out.status = pick_status::all_filtered;
    out.reason = "failed to find available decode workers";
    return;
  }
  if (prefill >= 0 && states[prefill] == run_state::failed) {
    out.status = pick_status::all_filtered;
    out.reason =
        "prefill profile \"" + settings_.prefill + "\" was required but produced no result";
    return;
  }
  out.primary_profile = settings_.decode;
  set_targets(c, *c.run_of(decode), out.targets);
  bool prefill_used = has_target(c, prefill);
  bool encode_used = has_target(c, encode);
  if (prefill_used) {
    std::vector<pick_target> p;
    set_targets(c, *c.run_of(prefill), p);
    out.prefill = p.front();
  }
  out.disagg_decision = encode_used ? (prefill_used ? "encode-prefill-decode" : "encode-decode")
                                    : (prefill_used ? "prefill-decode" : "decode-only");
}

// -- pd-profile-handler -----------------------------------------------------------------------

bool pd_profile_handler::wants_prefill(cycle& c, uint32_t decode) {
  if (settings_.decider) return settings_.decider->disaggregate(c, decode);
  if (settings_.threshold <= 0) return true;  // threshold 0: always disaggregate
  auto input = static_cast<int64_t>(c.request->tokens.size());
  int64_t cached = 0;
  if (settings_.producer >= 0) {
    const auto& m = c.match(settings_.producer, decode);
    if (m.valid) cached = static_cast<int64_t>(m.match_blocks) * m.block_size;
  }
  return input - cached >= settings_.threshold;
}

void pd_profile_handler::pick(cycle& c, std::vector<int>& to_run) {
  auto& states = *c.states;
  int decode = c.profile_index(settings_.decode);
  int prefill = c.profile_index(settings_.prefill);
  if (decode < 0) return;
  if (states[decode] == run_state::pending) {
    to_run.push_back(decode);
    return;
  }
  if (!has_target(c, decode)) return;  // failed to find available decode workers
  if (prefill < 0 || states[prefill] != run_state::pending) return;
  if (wants_prefill(c, c.run_of(decode)->targets.front()))
    to_run.push_back(prefill);
  else
    states[prefill] = run_state::skipped;
}

void pd_profile_handler::process_results(cycle& c, schedule_result& out) {
  int decode = c.profile_index(settings_.decode);
  int prefill = c.profile_index(settings_.prefill);
  if (!has_target(c, decode)) {
    out.status = pick_status::all_filtered;
    out.reason = "failed to find available decode workers";
    return;
  }
  out.primary_profile = settings_.decode;
  set_targets(c, *c.run_of(decode), out.targets);
  if (has_target(c, prefill)) {
    std::vector<pick_target> p;
    set_targets(c, *c.run_of(prefill), p);
    out.prefill = p.front();
    out.disagg_decision = "prefill-decode";
  } else {
    out.disagg_decision = "decode-only";  // declined, or prefill found nobody
  }
}

// -- factories --------------------------------------------------------------------------------

namespace {

using config::fields;
using config::picker_plugin_spec;

void make_prefix_based_decider(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  int non_cached = 0, prompt = 0;
  std::string producer;
  p.get("nonCachedTokens", non_cached);
  p.get("promptTokens", prompt);
  p.get("prefixMatchInfoProducerName", producer);
  if (non_cached < 0) b.problem(p.child_path("nonCachedTokens"), "cannot be negative");
  if (prompt < 0) b.problem(p.child_path("promptTokens"), "cannot be negative");
  auto* d = b.add(std::make_unique<prefix_based_pd_decider>(s.name, std::max(non_cached, 0),
                                                            std::max(prompt, 0), -1),
                  &s);
  auto path = p.child_path("prefixMatchInfoProducerName");
  b.later([&b, d, producer, path] { d->set_producer(b.producer_ref(producer, path)); });
}

void make_disagg_handler(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  disagg_profile_handler::settings st;
  std::string order;
  p.get("stageOrder", order);
  std::string norm;
  for (char ch : order)
    if (ch != '-' && ch != '_') norm += static_cast<char>(std::tolower(ch));
  if (norm == "prefillfirst" || norm == "prefill")
    st.prefill_first = true;
  else if (!(norm.empty() || norm == "decodefirst" || norm == "decode"))
    b.problem(p.child_path("stageOrder"),
              "invalid stage order '" + order + "', must be decode-first or prefill-first");
  auto profiles = p.object("profiles");
  profiles.get("decode", st.decode);
  profiles.get("prefill", st.prefill);
  profiles.get("encode", st.encode);
  profiles.get("fallback", st.fallback);
  profiles.finish();
  auto deciders = p.object("deciders");
  std::string prefill_decider, encode_decider;
  deciders.get("prefill", prefill_decider);
  deciders.get("encode", encode_decider);
  auto prefill_path = deciders.child_path("prefill");
  auto encode_path = deciders.child_path("encode");
  deciders.finish();
  // The flat names llm-d-router v0.10 still reads (deprecated there): one format or the other.
  static const char* const flat[] = {"decodeProfile",           "prefillProfile",
                                     "encodeProfile",           "prefillDeciderPluginName",
                                     "encodeDeciderPluginName", "deciderPluginName"};
  auto flat_given =
      std::find_if(std::begin(flat), std::end(flat), [&](const char* key) { return p.has(key); });
  if (flat_given != std::end(flat)) {
    if (p.has("profiles") || p.has("deciders"))
      b.problem(p.child_path(*flat_given),
                "use one format: nested profiles/deciders or the deprecated flat names");
    p.get("decodeProfile", st.decode);
    p.get("prefillProfile", st.prefill);
    p.get("encodeProfile", st.encode);
    std::string legacy_decider;
    p.get("deciderPluginName", legacy_decider);  // pd-profile-handler's: the lower priority
    p.get("prefillDeciderPluginName", prefill_decider);
    if (prefill_decider.empty()) prefill_decider = legacy_decider;
    p.get("encodeDeciderPluginName", encode_decider);
    prefill_path = p.child_path(p.has("prefillDeciderPluginName") ? "prefillDeciderPluginName"
                                                                  : "deciderPluginName");
    encode_path = p.child_path("encodeDeciderPluginName");
  }
  if (st.prefill_first && !prefill_decider.empty())
    b.problem(prefill_path, "a prefill decider is not supported in prefill-first stage order");
  if (!st.fallback.empty()) {
    if (st.prefill_first)
      b.problem(p.child_path("profiles.fallback"),
                "aggregated fallback is only supported in decode-first stage order");
    if (st.fallback == st.decode || st.fallback == st.prefill || st.fallback == st.encode)
      b.problem(p.child_path("profiles.fallback"), "must differ from the other profiles");
  }
  auto* h = b.add(std::make_unique<disagg_profile_handler>(s.name, st), &s);
  b.later([&b, h, prefill_decider, encode_decider, prefill_path, encode_path] {
    auto resolve = [&](const std::string& name, const std::string& path) -> decider_plugin* {
      if (name.empty()) return nullptr;
      auto* d = dynamic_cast<decider_plugin*>(b.named(name));
      if (!d)
        b.problem(path, b.named(name) ? "plugin '" + name + "' is not a decider"
                                      : "no plugin named '" + name + "'");
      return d;
    };
    h->set_deciders(resolve(prefill_decider, prefill_path), resolve(encode_decider, encode_path));
  });
}

void make_pd_handler(plugin_builder& b, const picker_plugin_spec& s, fields& p) {
  pd_profile_handler::settings st;
  std::string unused, decider, producer;
  int port = 0, hash_block_size = 0;
  p.get("threshold", st.threshold);
  p.get("decodeProfile", st.decode);
  p.get("prefillProfile", st.prefill);
  p.get("prefixPluginType", unused);
  p.get("prefixPluginName", unused);
  p.get("hashBlockSize", hash_block_size);
  p.get("primaryPort", port);
  p.get("deciderPluginName", decider);
  p.get("prefixMatchInfoProducerName", producer);
  if (st.threshold < 0) b.problem(p.child_path("threshold"), "cannot be negative");
  if (port != 0 && (port < 1 || port > 65535))
    b.problem(p.child_path("primaryPort"), "must be a port number");
  auto* h = b.add(std::make_unique<pd_profile_handler>(s.name, st), &s);
  auto decider_path = p.child_path("deciderPluginName");
  auto producer_path = p.child_path("prefixMatchInfoProducerName");
  b.later([&b, h, decider, producer, decider_path, producer_path] {
    if (!decider.empty()) {
      h->config().decider = dynamic_cast<decider_plugin*>(b.named(decider));
      if (!h->config().decider)
        b.problem(decider_path, b.named(decider) ? "plugin '" + decider + "' is not a decider"
                                                 : "no plugin named '" + decider + "'");
    } else if (h->config().threshold > 0) {
      h->config().producer = b.producer_ref(producer, producer_path);
    }
  });
}

}  // namespace

const std::vector<plugin_factory>& profile_handler_factories() {
  static const std::vector<plugin_factory> list = {
      without_parameters<single_profile_handler>("single-profile-handler",
                                                 plugin_kind::profile_handler),
      // llm-d-router v0.10 (deprecated there for single-profile-handler on Istio >= 1.28.1): it
      // sends a rank's requests to the pod's primaryPort with x-data-parallel-host-port naming
      // the rank; our ranks are endpoints of their own, reached directly.
      {"data-parallel-profile-handler",
       plugin_kind::profile_handler,
       {{"primaryPort", "8000 (checked; each rank is an endpoint)"}},
       [](plugin_builder& b, const picker_plugin_spec& s, fields& p) {
         int port = 8000;
         p.get("primaryPort", port);
         check_range(b, p, "primaryPort", port, 0, 65535, "must be between 1 and 65535 (0: none)");
         b.add(std::make_unique<single_profile_handler>(s.name, "data-parallel-profile-handler"),
               &s);
       }},
      {"disagg-profile-handler",
       plugin_kind::profile_handler,
       {{"stageOrder", "decode-first"},
        {"profiles.decode", "decode"},
        {"profiles.prefill", "prefill"},
        {"profiles.encode", "encode"},
        {"profiles.fallback", "\"\" (none)"},
        {"deciders.prefill", "\"\" (no prefill stage in decode-first)"},
        {"deciders.encode", "\"\" (no encode stage)"},
        {"decodeProfile", "decode (deprecated: profiles.decode)"},
        {"prefillProfile", "prefill (deprecated: profiles.prefill)"},
        {"encodeProfile", "encode (deprecated: profiles.encode)"},
        {"prefillDeciderPluginName", "\"\" (deprecated: deciders.prefill)"},
        {"encodeDeciderPluginName", "\"\" (deprecated: deciders.encode)"},
        {"deciderPluginName", "\"\" (deprecated: deciders.prefill)"}},
       make_disagg_handler},
      {"pd-profile-handler",
       plugin_kind::profile_handler,
       {{"threshold", "0"},
        {"decodeProfile", "decode"},
        {"prefillProfile", "prefill"},
        {"prefixPluginType", "- (deprecated)"},
        {"prefixPluginName", "- (deprecated)"},
        {"hashBlockSize", "- (unused)"},
        {"primaryPort", "0 (unused)"},
        {"deciderPluginName", "\"\""},
        {"prefixMatchInfoProducerName", "the default producer"}},
       make_pd_handler},
      {"prefix-based-pd-decider",
       plugin_kind::decider,
       {{"nonCachedTokens", "0"},
        {"promptTokens", "0"},
        {"prefixMatchInfoProducerName", "the default producer"}},
       make_prefix_based_decider},
      {"always-disagg-pd-decider",
       plugin_kind::decider,
       {},
       [](plugin_builder& b, const picker_plugin_spec& s, fields&) {
         b.add(std::make_unique<constant_decider>("always-disagg-pd-decider", s.name, true), &s);
       }},
      {"always-disagg-multimodal-decider",
       plugin_kind::decider,
       {},
       [](plugin_builder& b, const picker_plugin_spec& s, fields&) {
         b.add(
             std::make_unique<constant_decider>("always-disagg-multimodal-decider", s.name, false),
             &s);
       }},
  };
  return list;
}

}  // namespace inferstack::actors::picker
