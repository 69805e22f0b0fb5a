// Helpers for the picker tests: a pool with a cycle around it, for driving single plugins on
// fixed inputs, and prompt/event builders.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "actors/picker/scheduling/config_loader.hpp"
#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "actors/picker/scheduling/plugin.hpp"
#include "runtime/kv_block_keys.hpp"
#include "runtime/kv_events.hpp"

namespace picker_test {

using namespace inferstack::actors::picker;
namespace rt = inferstack::runtime;

inline constexpr int64_t second = 1'000'000'000;

inline load_report load(int waiting, double kv = 0, int running = 0) {
  load_report r;
  r.waiting = waiting;
  r.kv_usage = kv;
  r.running = running;
  return r;
}

/// A pool and one scheduling cycle over all its endpoints.
struct bench {
  pool_state pool{2 * second};
  std::mt19937_64 rng{7};
  std::vector<std::vector<prefix_match>> prefix;
  request_memo memo;
  std::vector<uint32_t> ids;
  std::vector<profile_def> profiles;
  std::vector<run_state> states;
  std::vector<int> run_slot;
  schedule_result out;
  std::vector<uint32_t> tokens;
  header_list headers;
  pick_request request;
  int64_t now = 100 * second;

  uint32_t add(const std::string& name, std::map<std::string, std::string> labels = {},
               std::optional<load_report> report = load_report{}) {
    uint32_t id = pool.add(endpoint_info{name, name + ":8000", std::move(labels)});
    if (report) pool.update_load(name, *report, now);
    ids.push_back(id);
    return id;
  }

  cycle make() {
    request.tokens = tokens;
    request.headers = &headers;
    if (request.model.empty()) request.model = "m";
    for (auto& t : prefix)
      t.resize(pool.id_bound());
    memo.plugin_state.resize(16);
    cycle c;
    c.request = &request;
    c.now_ns = now;
    c.pool = &pool;
    c.rng = &rng;
    c.endpoints = ids;
    c.prefix = &prefix;
    c.memo = &memo;
    c.profiles = &profiles;
    states.resize(profiles.size(), run_state::pending);
    run_slot.resize(profiles.size(), -1);
    c.states = &states;
    c.out = &out;
    c.run_slot = &run_slot;
    return c;
  }

  /// Scores every endpoint with `s` (raw, before clamping).
  std::vector<double> score(scorer_plugin& s) {
    auto c = make();
    std::vector<double> out(ids.size(), 0.0);
    s.score(c, ids, out);
    return out;
  }

  std::vector<std::string> filter(filter_plugin& f) {
    auto c = make();
    std::vector<uint32_t> kept = ids;
    f.filter(c, kept);
    std::vector<std::string> names;
    for (uint32_t id : kept)
      names.push_back(pool.at(id).name);
    return names;
  }

  /// Gives producer 0 a match for endpoint `id`.
  void set_match(uint32_t id, uint32_t blocks, uint32_t total, uint32_t block_size = 16) {
    if (prefix.empty()) prefix.resize(1);
    prefix[0].resize(pool.id_bound());
    prefix[0][id] = prefix_match{blocks, total, block_size, double(blocks), true};
  }
};

/// Deterministic pseudo-random token ids.
inline std::vector<uint32_t> random_tokens(size_t n, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::vector<uint32_t> out(n);
  for (auto& t : out)
    t = static_cast<uint32_t>(g() >> 40) + 100;
  return out;
}

inline std::vector<uint32_t> concat(std::vector<uint32_t> a, const std::vector<uint32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// A BlockStored event as a pod would publish it for `tokens` (whole blocks), continuing from
/// `parent_engine` (engine keys are arbitrary here: the index recomputes request keys).
inline rt::block_stored stored(const std::vector<uint32_t>& tokens, uint64_t first_engine_key,
                               std::optional<uint64_t> parent_engine, size_t block_size = 16,
                               std::string medium = "GPU") {
  rt::block_stored s;
  s.token_ids = tokens;
  s.block_size = static_cast<uint32_t>(block_size);
  s.parent_block_hash = parent_engine;
  for (size_t i = 0; i < tokens.size() / block_size; ++i)
    s.block_hashes.push_back(first_engine_key + i);
  s.medium = std::move(medium);
  return s;
}

inline rt::event_batch batch_of(std::vector<rt::kv_event> events) {
  rt::event_batch b;
  b.ts = 1.0;
  b.events = std::move(events);
  return b;
}

/// Builds a picker from YAML or fails the test with the problems.
inline std::unique_ptr<endpoint_picker> build(std::string_view yaml, picker_options options = {}) {
  auto r = build_endpoint_picker_from_yaml(yaml, std::move(options));
  INFO(r.error_text());
  REQUIRE(r.ok());
  return std::move(r.picker);
}

/// The scorer named `name` in any profile (find_plugin may give a producer of the same name).
inline plugin* scorer_named(const endpoint_picker& p, std::string_view name) {
  for (const auto& profile : p.profiles())
    for (auto* s : profile.scorers)
      if (s->name() == name) return s;
  return nullptr;
}

/// Problems of a config that must not build, one per line.
inline std::string problems_of(std::string_view yaml) {
  auto r = build_endpoint_picker_from_yaml(yaml);
  REQUIRE_FALSE(r.ok());
  return r.error_text();
}

}  // namespace picker_test
