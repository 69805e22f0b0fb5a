// The picker's span of a pick; see pick_trace.hpp.
#include "actors/picker/pick_trace.hpp"

#include <string>

namespace inferstack::actors::picker {

void describe_pick(tracing::span& s, pick_summary&& d) {
  using tracing::add;
  auto& a = s.attributes;
  a.reserve(a.size() + 16);
  add(a, "gen_ai.request.model", std::move(d.model));
  add(a, "inferstack.pool", std::move(d.pool));
  add(a, "inferstack.pick.outcome", d.status);
  if (!d.reason.empty()) add(a, "inferstack.pick.reason", d.reason);
  if (!d.pod.empty()) add(a, "inferstack.pod", d.pod);
  if (!d.prefill_pod.empty()) add(a, "inferstack.prefill_pod", std::move(d.prefill_pod));
  add(a, "inferstack.pick.candidates", d.candidates);
  if (d.excluded) add(a, "inferstack.pick.excluded_pods", d.excluded);
  // Compact text rather than the debug header's JSON (every span is encoded and sent).
  add(a, "inferstack.pick.profiles", std::move(d.profiles));
  add(a, "inferstack.pick.scorers", std::move(d.scorers));
  add(a, "inferstack.pick.scores", std::move(d.scores));
  if (!d.filtered.empty()) add(a, "inferstack.pick.filtered", std::move(d.filtered));
  add(a, "inferstack.pick.chance", d.chance);
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
