// The console's recordings and the page that plays them; see console_recording.hpp.
#include "ui/console_recording.hpp"

#include <stdexcept>

#include "ui/console_page.hpp"

namespace inferstack::ui {

using json = nlohmann::json;

namespace {

/// Where the page keeps a recording: this element, empty in the page the stack serves live.
constexpr std::string_view slot = "<script type=\"application/json\" id=\"recording\"></script>";

}  // namespace

void console_recorder::add(json snapshot, int64_t t_ms) {
  int64_t at_ms = snapshot.value("at_ms", int64_t{0});
  if (frames_.empty()) start_ms_ = at_ms - t_ms;
  std::map<std::pair<std::string, int64_t>, int64_t> seen;
  if (auto picks = snapshot.find("picks"); picks != snapshot.end() && picks->is_array()) {
    for (auto& pick : *picks) {
      std::pair<std::string, int64_t> key{pick.value("pool", ""), pick.value("seq", int64_t{0})};
      auto before = seen_.find(key);
      int64_t first = before == seen_.end() ? at_ms : before->second;
      seen.emplace(key, first);
      pick["unix_ms"] = first;
      pick.erase("duration_us");
    }
  }
  seen_ = std::move(seen);  // a pick gone from the newest ones does not come back
  frames_.push_back(snapshot.dump());
}

std::string console_recorder::run() const {
  std::string out = "{\"label\":" + json(label_).dump() +
                    ",\"start_ms\":" + std::to_string(start_ms_) + ",\"frames\":[";
  for (size_t i = 0; i < frames_.size(); ++i) {
    if (i) out += ',';
    out += frames_[i];
  }
  return out + "]}";
}

std::string recording_document(const std::vector<std::string>& runs) {
  std::string out = "{\"recording\":1,\"runs\":[";
  for (size_t i = 0; i < runs.size(); ++i) {
    if (i) out += ',';
    out += runs[i];
  }
  return out + "]}";
}

std::string recorded_page(std::string_view data) {
  const auto& page = console_page();
  auto at = page.find(slot);
  if (at == std::string::npos) throw std::logic_error("ui/console.html has no recording slot");
  std::string escaped;
  escaped.reserve(data.size() + data.size() / 16);
  for (char c : data) {
    // '<' only occurs inside JSON strings, where \u003c means the same.
    if (c == '<')
      escaped += "\\u003c";
    else
      escaped += c;
  }
  auto close = at + slot.size() - std::string_view("</script>").size();
  std::string out;
  out.reserve(page.size() + escaped.size());
  out.append(page, 0, close);
  out += escaped;
  out.append(page, close, std::string::npos);
  return out;
}

}  // namespace inferstack::ui
