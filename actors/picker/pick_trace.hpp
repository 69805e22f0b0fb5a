// The picker's span of one pick: what a trace shows of "why this pod", taken from the pick's
// decision record (pick_decision.hpp) -- model, pool, profiles, the choice, the filters'
// removals and every candidate's score per scorer, as compact text -- and the outcome.
#pragma once

#include <string_view>

#include "actors/picker/pick_decision.hpp"
#include "actors/picker/picker_protocol.hpp"
#include "runtime/tracing/span.hpp"

namespace inferstack::actors::picker {

/// Adds the decision's attributes to a pick span (its strings moved in) and sets its status: an
/// error, with the reason, when no pod was chosen.
void describe_pick(tracing::span& s, pick_summary&& d);

/// A pick refused before any decision was made (`outcome`, e.g. not_ready: the picker does not
/// know its pool yet).
void describe_refused_pick(tracing::span& s, const choose_pod& req, std::string_view pool,
                           std::string_view outcome, std::string_view reason);

}  // namespace inferstack::actors::picker
