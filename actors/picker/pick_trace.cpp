// The picker's span of a pick; see pick_trace.hpp.
#include "actors/picker/pick_trace.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace inferstack::actors::picker {

namespace {

void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

/// "<profile>: " before each profile's part when more than one ran.
void append_profile(std::string& out, const pick_decision& d, const profile_decision& p) {
  if (!out.empty()) out += "; ";
  if (d.profiles.size() > 1) {
    out += p.name;
    out += ": ";
  }
}

}  // namespace

void describe_pick(tracing::span& s, const pick_decision& d) {
  using tracing::add;
  auto& a = s.attributes;
  a.reserve(a.size() + 16);
  add(a, "gen_ai.request.model", d.model);
  add(a, "inferstack.pool", d.pool);
  add(a, "inferstack.pick.outcome", d.status);
  if (!d.reason.empty()) add(a, "inferstack.pick.reason", d.reason);
  if (!d.pod.empty()) add(a, "inferstack.pod", d.pod);
  if (!d.prefill_pod.empty()) add(a, "inferstack.prefill_pod", d.prefill_pod);
  add(a, "inferstack.pick.candidates", d.candidates.size());
  if (!d.excluded.empty()) add(a, "inferstack.pick.excluded_pods", d.excluded.size());
  // Compact text rather than the debug header's JSON (every span is encoded and sent): the
  // profiles; per profile its scorers with their weights, each candidate's total and its score
  // per scorer in that order, the filters' removals; whether chance decided.
  //   scorers "queue-scorer*2 kv-cache-utilization-scorer*1"
  //   scores  "pod-a=0.75(0,0.75) pod-b=2.25(1,0.25)"    filtered "gold-only=pod-c"
  std::string profiles, scorers, scores, filtered;
  bool chance = false;
  for (const auto& p : d.profiles) {
    if (!profiles.empty()) profiles += ',';
    profiles += p.name;
    chance = chance || p.sampled;
    append_profile(scorers, d, p);
    for (size_t i = 0; i < p.scorers.size(); ++i) {
      if (i) scorers += ' ';
      scorers += p.scorers[i];
      scorers += '*';
      append_number(scorers, i < p.weights.size() ? p.weights[i] : 0);
    }
    append_profile(scores, d, p);
    for (size_t c = 0; c < p.candidates.size(); ++c) {
      const auto& cand = p.candidates[c];
      if (c) scores += ' ';
      scores += cand.pod;
      scores += '=';
      append_number(scores, cand.total);
      scores += '(';
      for (size_t i = 0; i < cand.scores.size(); ++i) {
        if (i) scores += ',';
        append_number(scores, cand.scores[i]);
      }
      scores += ')';
    }
    if (p.filtered.empty()) continue;
    append_profile(filtered, d, p);
    for (size_t f = 0; f < p.filtered.size(); ++f) {
      if (f) filtered += ' ';
      filtered += p.filtered[f].filter;
      filtered += '=';
      for (size_t i = 0; i < p.filtered[f].pods.size(); ++i) {
        if (i) filtered += ',';
        filtered += p.filtered[f].pods[i];
      }
    }
  }
  add(a, "inferstack.pick.profiles", std::move(profiles));
  add(a, "inferstack.pick.scorers", std::move(scorers));
  add(a, "inferstack.pick.scores", std::move(scores));
  if (!filtered.empty()) add(a, "inferstack.pick.filtered", std::move(filtered));
  add(a, "inferstack.pick.chance", chance);
  if (d.pod.empty()) {
    s.status = tracing::status_code::error;
    s.status_message = d.reason.empty() ? d.status : d.reason;
  }
}

void describe_refused_pick(tracing::span& s, const choose_pod& req, std::string_view pool,
                           std::string_view outcome, std::string_view reason) {
  using tracing::add;
  auto& a = s.attributes;
  add(a, "gen_ai.request.model", req.model);
  add(a, "inferstack.pool", pool);
  add(a, "inferstack.pick.outcome", outcome);
  add(a, "inferstack.pick.reason", reason);
  s.status = tracing::status_code::error;
  s.status_message = std::string(reason);
}

}  // namespace inferstack::actors::picker
