// "Why this pod": the picker's decisions (pick_decision, picker_protocol.hpp) kept in a bounded
// ring of recent ones and rendered as compact JSON (the gateway's x-inferstack-pick-decision
// header, GET /debug/picks, the live console).
// Recording reuses the ring's memory: once warm, a pick records without allocating.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actors/picker/picker_protocol.hpp"

namespace inferstack::actors::picker {

class endpoint_picker;
struct schedule_result;

/// What a decision record needs besides the scheduling result.
struct decision_input {
  std::string_view request_id;
  std::string_view model;
  std::string_view pool;
  const std::vector<std::string>* excluded = nullptr;
  int64_t unix_ms = 0;
};

/// Compact JSON of one decision (one line, no spaces).
std::string to_json(const pick_decision& d);
void append_json(std::string& out, const pick_decision& d);

/// The decision as a response header value: the whole JSON when it is at most `max_bytes`,
/// else a summary (status, pod, profiles, candidate count, the best candidates' totals,
/// "truncated":true) pointing at GET /debug/picks?request_id=... for the rest.
std::string header_json(const pick_decision& d, size_t max_bytes = 4096);

/// What a pick's span shows of a decision (pick_trace.hpp): counts and compact text written
/// straight from the record, without a name string per candidate (a traced pick pays for the
/// text only).
struct pick_summary {
  std::string model, pool, status, reason, pod, prefill_pod;
  size_t candidates = 0;  ///< schedulable pods before any filter
  size_t excluded = 0;    ///< pods already tried (a retry)
  /// Per profile ("<profile>: " before each part when more than one ran, parts joined by "; "):
  ///   profiles "default"                             scorers  "queue-scorer*2 kv-cache-scorer*1"
  ///   scores   "pod-a=0.75(0,0.75) pod-b=2.25(1,0.25)"    filtered "gold-only=pod-c"
  std::string profiles, scorers, scores, filtered;
  bool chance = false;  ///< a random picker or a random tie-break decided
};

/// The last `capacity` decisions of one picker (oldest overwritten). A pick records ids and
/// scores by copying into the slot it overwrites (no allocation once warm, no pod names
/// looked up: about 12 + 8 x scorers bytes per candidate); names are resolved when the
/// decisions are read, from the pool's names as they were at the pick. Not thread-safe: the
/// picker's lock guards it.
class decision_ring {
 public:
  explicit decision_ring(size_t capacity);
  ~decision_ring();
  decision_ring(decision_ring&&) noexcept;
  decision_ring& operator=(decision_ring&&) noexcept;

  /// Records a cycle `picker` has just run (before its endpoints change). Capacity 0: nothing.
  void record(const decision_input& in, const schedule_result& result,
              const endpoint_picker& picker);
  /// The picker's endpoints changed (an id may now name another pod): the next record takes
  /// the names anew.
  void endpoints_changed();

  /// The last decision recorded (seq 0 when none).
  pick_decision last() const;
  /// The last decision as its span shows it; false when none was recorded.
  bool summarize_last(pick_summary& out) const;
  /// Most recent first: up to `limit` (0: all kept), only `request_id`'s when not empty.
  std::vector<pick_decision> recent(size_t limit, std::string_view request_id) const;
  size_t capacity() const { return capacity_; }
  uint64_t recorded() const { return count_; }

  struct slot;  ///< a decision as recorded (pick_decision.cpp)

 private:
  size_t capacity_;
  std::vector<slot> slots_;
  uint64_t count_ = 0;
  std::shared_ptr<const std::vector<std::string>> names_;  ///< by endpoint id; null: stale
};

}  // namespace inferstack::actors::picker
