// Decision records of the picker; see pick_decision.hpp.
#include "actors/picker/pick_decision.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "actors/picker/scheduling/endpoint_picker.hpp"
#include "runtime/json_escape.hpp"

namespace inferstack::actors::picker {

namespace {

using names_ptr = std::shared_ptr<const std::vector<std::string>>;

std::string name_of(const names_ptr& names, uint32_t id) {
  if (names && id < names->size()) return (*names)[id];
  return "#" + std::to_string(id);  // not expected: the names are taken before each pick
}

std::vector<std::string> names_of(const names_ptr& names, const std::vector<uint32_t>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (uint32_t id : ids)
    out.push_back(name_of(names, id));
  return out;
}

bool picker_samples(const profile_run& run, std::string_view type) {
  if (type == "random-picker" || type == "weighted-random-picker") return run.candidates.size() > 1;
  if (type != "max-score-picker" || run.totals.empty()) return false;
  // A tie for the best total is broken at random.
  double best = *std::max_element(run.totals.begin(), run.totals.end());
  return std::count(run.totals.begin(), run.totals.end(), best) > 1;
}

profile_decision expand_profile(const profile_run& run, const names_ptr& names) {
  profile_decision out;
  out.name = run.name;
  out.failed = run.failed;
  const auto* def = run.profile;
  // Filter removals, grouped by filter in the filters' order (run.removed is in that order).
  for (size_t i = 0; i < run.removed.size(); ++i) {
    auto [filter, id] = run.removed[i];
    if (i == 0 || run.removed[i - 1].first != filter)
      out.filtered.push_back(
          {def && filter < def->filters.size() ? def->filters[filter]->name() : std::string(), {}});
    out.filtered.back().pods.push_back(name_of(names, id));
  }
  size_t scorers = def ? def->scorers.size() : 0;
  for (size_t s = 0; s < scorers; ++s) {
    out.scorers.push_back(def->scorers[s]->name());
    out.weights.push_back(def->weights[s]);
  }
  size_t n = run.candidates.size();
  bool scored = run.totals.size() == n && run.scores.size() == scorers * n;
  for (size_t c = 0; c < n; ++c) {
    candidate_scores cand;
    cand.pod = name_of(names, run.candidates[c]);
    if (scored) {
      for (size_t s = 0; s < scorers; ++s)
        cand.scores.push_back(run.scores[s * n + c]);
      cand.total = run.totals[c];
    }
    out.candidates.push_back(std::move(cand));
  }
  out.picker = def && def->picker ? def->picker->type() : std::string();
  out.sampled = !run.failed && picker_samples(run, out.picker);
  out.picked = names_of(names, run.targets);
  return out;
}

void append_number(std::string& out, double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_strings(std::string& out, const std::vector<std::string>& list) {
  out += '[';
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    runtime::append_json_string(out, list[i]);
  }
  out += ']';
}

void append_key(std::string& out, std::string_view key) {
  out += '"';
  out += key;
  out += "\":";
}

void append_profile(std::string& out, const profile_decision& p) {
  out += '{';
  append_key(out, "name");
  runtime::append_json_string(out, p.name);
  if (p.failed) out += ",\"failed\":true";
  out += ',';
  append_key(out, "filtered");
  out += '{';
  for (size_t i = 0; i < p.filtered.size(); ++i) {
    if (i) out += ',';
    runtime::append_json_string(out, p.filtered[i].filter);
    out += ':';
    append_strings(out, p.filtered[i].pods);
  }
  out += "},";
  append_key(out, "weights");
  out += '{';
  for (size_t s = 0; s < p.scorers.size(); ++s) {
    if (s) out += ',';
    runtime::append_json_string(out, p.scorers[s]);
    out += ':';
    append_number(out, s < p.weights.size() ? p.weights[s] : 0);
  }
  out += "},";
  append_key(out, "candidates");
  out += '[';
  for (size_t c = 0; c < p.candidates.size(); ++c) {
    const auto& cand = p.candidates[c];
    if (c) out += ',';
    out += '{';
    append_key(out, "pod");
    runtime::append_json_string(out, cand.pod);
    out += ',';
    append_key(out, "scores");
    out += '{';
    for (size_t s = 0; s < cand.scores.size() && s < p.scorers.size(); ++s) {
      if (s) out += ',';
      runtime::append_json_string(out, p.scorers[s]);
      out += ':';
      append_number(out, cand.scores[s]);
    }
    out += "},";
    append_key(out, "total");
    append_number(out, cand.total);
    out += '}';
  }
  out += "],";
  append_key(out, "picker");
  runtime::append_json_string(out, p.picker);
  out += ',';
  append_key(out, "sampled");
  out += p.sampled ? "true" : "false";
  out += ',';
  append_key(out, "picked");
  append_strings(out, p.picked);
  out += '}';
}

/// The fields every rendering starts with.
void append_head(std::string& out, const pick_decision& d) {
  append_key(out, "seq");
  runtime::append_json_int(out, static_cast<int64_t>(d.seq));
  out += ',';
  append_key(out, "request_id");
  runtime::append_json_string(out, d.request_id);
  out += ',';
  append_key(out, "model");
  runtime::append_json_string(out, d.model);
  out += ',';
  append_key(out, "pool");
  runtime::append_json_string(out, d.pool);
  out += ',';
  append_key(out, "unix_ms");
  runtime::append_json_int(out, d.unix_ms);
  out += ',';
  append_key(out, "duration_us");
  append_number(out, static_cast<double>(d.duration_ns) / 1000.0);
  out += ',';
  append_key(out, "status");
  runtime::append_json_string(out, d.status);
  if (!d.reason.empty()) {
    out += ',';
    append_key(out, "reason");
    runtime::append_json_string(out, d.reason);
  }
  out += ',';
  append_key(out, "pod");
  runtime::append_json_string(out, d.pod);
  if (!d.prefill_pod.empty()) {
    out += ',';
    append_key(out, "prefill_pod");
    runtime::append_json_string(out, d.prefill_pod);
  }
}

}  // namespace

void append_json(std::string& out, const pick_decision& d) {
  out += '{';
  append_head(out, d);
  out += ',';
  append_key(out, "candidates");
  append_strings(out, d.candidates);
  if (!d.excluded.empty()) {
    out += ',';
    append_key(out, "excluded");
    append_strings(out, d.excluded);
  }
  out += ',';
  append_key(out, "profiles");
  out += '[';
  for (size_t i = 0; i < d.profiles.size(); ++i) {
    if (i) out += ',';
    append_profile(out, d.profiles[i]);
  }
  out += "]}";
}

std::string to_json(const pick_decision& d) {
  std::string out;
  append_json(out, d);
  return out;
}

std::string header_json(const pick_decision& d, size_t max_bytes) {
  auto full = to_json(d);
  if (full.size() <= max_bytes) return full;
  // Too long for a header: the head, each profile's best candidates, and where the rest is.
  constexpr size_t best_shown = 3;
  std::string out = "{";
  append_head(out, d);
  out += ",\"truncated\":true,";
  append_key(out, "candidates");
  runtime::append_json_int(out, static_cast<int64_t>(d.candidates.size()));
  out += ',';
  append_key(out, "profiles");
  out += '[';
  for (size_t i = 0; i < d.profiles.size(); ++i) {
    const auto& p = d.profiles[i];
    if (i) out += ',';
    out += '{';
    append_key(out, "name");
    runtime::append_json_string(out, p.name);
    out += ',';
    append_key(out, "best");
    out += '{';
    std::vector<size_t> order(p.candidates.size());
    for (size_t c = 0; c < order.size(); ++c)
      order[c] = c;
    auto shown = std::min(order.size(), best_shown);
    std::partial_sort(
        order.begin(), order.begin() + static_cast<ptrdiff_t>(shown), order.end(),
        [&](size_t a, size_t b) { return p.candidates[a].total > p.candidates[b].total; });
    for (size_t k = 0; k < shown; ++k) {
      if (k) out += ',';
      runtime::append_json_string(out, p.candidates[order[k]].pod);
      out += ':';
      append_number(out, p.candidates[order[k]].total);
    }
    out += "},";
    append_key(out, "sampled");
    out += p.sampled ? "true" : "false";
    out += '}';
  }
  out += "],";
  append_key(out, "more");
  std::string more = "/debug/picks?request_id=" + d.request_id;
  runtime::append_json_string(out, more);
  out += '}';
  return out;
}

/// A decision as a pick leaves it: the cycle's runs copied whole (ids, scores, totals), the
/// rest in the slot's own strings. Assignment into a used slot reuses its memory.
struct decision_ring::slot {
  uint64_t seq = 0;
  std::string request_id, model, pool, reason, pod, prefill_pod;
  int64_t unix_ms = 0, duration_ns = 0;
  pick_status status = pick_status::ok;
  std::vector<uint32_t> candidates;
  std::vector<std::string> excluded;
  std::vector<profile_run> runs;
  size_t run_count = 0;  ///< runs of this decision (the vector may hold more, unused)
  names_ptr names;       ///< the pool's names by id at the pick

  pick_decision expand() const {
    pick_decision d;
    d.seq = seq;
    d.request_id = request_id;
    d.model = model;
    d.pool = pool;
    d.unix_ms = unix_ms;
    d.duration_ns = duration_ns;
    d.status = std::string(to_string(status));
    d.reason = reason;
    d.candidates = names_of(names, candidates);
    d.excluded = excluded;
    for (size_t i = 0; i < run_count; ++i)
      d.profiles.push_back(expand_profile(runs[i], names));
    d.pod = pod;
    d.prefill_pod = prefill_pod;
    return d;
  }
};

decision_ring::decision_ring(size_t capacity) : capacity_(capacity), slots_(capacity) {}
decision_ring::~decision_ring() = default;
decision_ring::decision_ring(decision_ring&&) noexcept = default;
decision_ring& decision_ring::operator=(decision_ring&&) noexcept = default;

void decision_ring::endpoints_changed() {
  names_.reset();
}

void decision_ring::record(const decision_input& in, const schedule_result& result,
                           const endpoint_picker& picker) {
  if (capacity_ == 0) return;
  if (!names_) {
    // Taken once per membership change, shared by every decision until the next one.
    auto names = std::make_shared<std::vector<std::string>>(picker.pool().id_bound());
    for (uint32_t id : picker.pool().ids())
      (*names)[id] = picker.pool().at(id).name;
    names_ = std::move(names);
  }
  auto& s = slots_[count_ % capacity_];
  s.seq = ++count_;
  s.request_id.assign(in.request_id);
  s.model.assign(in.model);
  s.pool.assign(in.pool);
  s.unix_ms = in.unix_ms;
  s.duration_ns = result.duration_ns;
  s.status = result.status;
  s.reason.assign(result.reason);
  s.candidates.assign(picker.cycle_candidates().begin(), picker.cycle_candidates().end());
  if (in.excluded)
    s.excluded.assign(in.excluded->begin(), in.excluded->end());
  else
    s.excluded.clear();
  if (s.runs.size() < result.runs.size()) s.runs.resize(result.runs.size());
  for (size_t i = 0; i < result.runs.size(); ++i)
    s.runs[i] = result.runs[i];  // vector copy-assignment keeps the slot's capacity
  s.run_count = result.runs.size();
  if (result.ok())
    s.pod.assign(result.primary().name);
  else
    s.pod.clear();
  if (result.ok() && result.prefill)
    s.prefill_pod.assign(result.prefill->name);
  else
    s.prefill_pod.clear();
  if (s.names != names_) s.names = names_;
}

pick_decision decision_ring::last() const {
  if (count_ == 0 || capacity_ == 0) return {};
  return slots_[(count_ - 1) % capacity_].expand();
}

namespace {

void append_name(std::string& out, const names_ptr& names, uint32_t id) {
  if (names && id < names->size()) {
    out += (*names)[id];
  } else {
    out += '#';
    out += std::to_string(id);
  }
}

/// "<profile>: " before each profile's part when more than one ran.
void append_profile(std::string& out, const profile_run& run, size_t runs) {
  if (!out.empty()) out += "; ";
  if (runs > 1) {
    out += run.name;
    out += ": ";
  }
}

}  // namespace

bool decision_ring::summarize_last(pick_summary& out) const {
  if (count_ == 0 || capacity_ == 0) return false;
  const auto& s = slots_[(count_ - 1) % capacity_];
  out.model = s.model;
  out.pool = s.pool;
  out.status = std::string(to_string(s.status));
  out.reason = s.reason;
  out.pod = s.pod;
  out.prefill_pod = s.prefill_pod;
  out.candidates = s.candidates.size();
  out.excluded = s.excluded.size();
  for (size_t r = 0; r < s.run_count; ++r) {
    const auto& run = s.runs[r];
    const auto* def = run.profile;
    if (!out.profiles.empty()) out.profiles += ',';
    out.profiles += run.name;
    if (!run.failed && def && def->picker && picker_samples(run, def->picker->type()))
      out.chance = true;
    size_t scorers = def ? def->scorers.size() : 0;
    append_profile(out.scorers, run, s.run_count);
    for (size_t i = 0; i < scorers; ++i) {
      if (i) out.scorers += ' ';
      out.scorers += def->scorers[i]->name();
      out.scorers += '*';
      append_number(out.scorers, def->weights[i]);
    }
    append_profile(out.scores, run, s.run_count);
    size_t n = run.candidates.size();
    bool scored = run.totals.size() == n && run.scores.size() == scorers * n;
    for (size_t c = 0; c < n; ++c) {
      if (c) out.scores += ' ';
      append_name(out.scores, s.names, run.candidates[c]);
      out.scores += '=';
      append_number(out.scores, scored ? run.totals[c] : 0);
      out.scores += '(';
      for (size_t i = 0; scored && i < scorers; ++i) {
        if (i) out.scores += ',';
        append_number(out.scores, run.scores[i * n + c]);
      }
      out.scores += ')';
    }
    if (run.removed.empty()) continue;
    // The filters' removals grouped by filter, in the filters' order (run.removed's).
    append_profile(out.filtered, run, s.run_count);
    for (size_t i = 0; i < run.removed.size(); ++i) {
      auto [filter, id] = run.removed[i];
      if (i == 0 || run.removed[i - 1].first != filter) {
        if (i) out.filtered += ' ';
        if (def && filter < def->filters.size()) out.filtered += def->filters[filter]->name();
        out.filtered += '=';
      } else {
        out.filtered += ',';
      }
      append_name(out.filtered, s.names, id);
    }
  }
  return true;
}

std::vector<pick_decision> decision_ring::recent(size_t limit, std::string_view request_id) const {
  std::vector<pick_decision> out;
  if (capacity_ == 0) return out;
  uint64_t kept = std::min<uint64_t>(count_, capacity_);
  for (uint64_t k = 0; k < kept; ++k) {
    if (limit != 0 && out.size() >= limit) break;
    const auto& s = slots_[(count_ - 1 - k) % capacity_];
    if (!request_id.empty() && s.request_id != request_id) continue;
    out.push_back(s.expand());
  }
  return out;
}

}  // namespace inferstack::actors::picker
