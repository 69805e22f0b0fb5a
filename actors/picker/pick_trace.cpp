// The picker's span of a pick; see pick_trace.hpp.
#include "actors/picker/pick_trace.hpp"

#include <string>

#include "actors/picker/pick_decision.hpp"

namespace inferstack::actors::picker {

void describe_pick(tracing::span& s, const pick_decision& d) {
  using tracing::add;
  auto& a = s.attributes;
  add(a, "inferstack.request_id", d.request_id);
  add(a, "gen_ai.request.model", d.model);
  add(a, "inferstack.pool", d.pool);
  add(a, "inferstack.pick.outcome", d.status);
  if (!d.reason.empty()) add(a, "inferstack.pick.reason", d.reason);
  if (!d.pod.empty()) add(a, "inferstack.pod", d.pod);
  if (!d.prefill_pod.empty()) add(a, "inferstack.prefill_pod", d.prefill_pod);
  std::string profiles;
  size_t filtered = 0;
  bool chance = false;
  for (const auto& p : d.profiles) {
    if (!profiles.empty()) profiles += ',';
    profiles += p.name;
    for (const auto& f : p.filtered)
      filtered += f.pods.size();
    chance = chance || p.sampled;
  }
  add(a, "inferstack.pick.profiles", profiles);
  add(a, "inferstack.pick.candidates", d.candidates.size());
  add(a, "inferstack.pick.filtered_pods", filtered);
  if (!d.excluded.empty()) add(a, "inferstack.pick.excluded_pods", d.excluded.size());
  add(a, "inferstack.pick.chance", chance);
  add(a, "inferstack.pick.duration_ns", d.duration_ns);
  // Every candidate's score per scorer and the filters' removals: the header's compact JSON
  // (a summary past 4 KB, as there).
  add(a, "inferstack.pick.decision", header_json(d));
  if (d.pod.empty()) {
    s.status = tracing::status_code::error;
    s.status_message = d.reason.empty() ? d.status : d.reason;
  }
}

void describe_refused_pick(tracing::span& s, const choose_pod& req, std::string_view pool,
                           std::string_view outcome, std::string_view reason) {
  using tracing::add;
  auto& a = s.attributes;
  add(a, "inferstack.request_id", req.request_id);
  add(a, "gen_ai.request.model", req.model);
  add(a, "inferstack.pool", pool);
  add(a, "inferstack.pick.outcome", outcome);
  add(a, "inferstack.pick.reason", reason);
  s.status = tracing::status_code::error;
  s.status_message = std::string(reason);
}

}  // namespace inferstack::actors::picker
