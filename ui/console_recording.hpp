// A recorded run for the console page: snapshots (the /ui/snapshot document, unchanged) taken
// at moments of a run -- `inferstack simulate` takes one a virtual second -- and the page with
// the recording embedded, which plays it back with a slider instead of connecting to a stack
// (one file, opened from disk: no server, nothing fetched).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace inferstack::ui {

/// One run's snapshots, in the order taken.
class console_recorder {
 public:
  explicit console_recorder(std::string label) : label_(std::move(label)) {}

  /// Adds `snapshot`, taken `t_ms` after the run's start. The picks in it carry the machine's
  /// clock, not the run's: each is stamped (unix_ms) with the time of the first snapshot that
  /// showed it and loses its measured duration, so a recording depends on the run alone.
  void add(nlohmann::json snapshot, int64_t t_ms);

  /// {"label": ..., "start_ms": the run's start on the snapshots' clock, "frames": [...]}, as
  /// JSON text.
  std::string run() const;
  size_t frames() const { return frames_.size(); }

 private:
  std::string label_;
  int64_t start_ms_ = 0;
  /// As JSON text: a tenth of the memory of their trees (a long run holds a thousand or more).
  std::vector<std::string> frames_;
  /// The picks of the last snapshot, by (pool, seq): when each was first seen.
  std::map<std::pair<std::string, int64_t>, int64_t> seen_;
};

/// The recording: {"recording": 1, "runs": [run...]} (one run per simulated variant, as
/// console_recorder::run() writes it), as JSON text.
std::string recording_document(const std::vector<std::string>& runs);

/// The console page (console_page()) with `recording` (JSON text) embedded in it: opened, it
/// plays the recording. Every '<' of the data is written as \u003c, so no text in it can end
/// the script.
std::string recorded_page(std::string_view recording);

}  // namespace inferstack::ui
