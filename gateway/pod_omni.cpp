// Omni mode's image output; see pod_omni.hpp.
#include "gateway/pod_omni.hpp"

#include <cmath>

#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

namespace inferstack::gateway {

namespace {

using ordered = nlohmann::ordered_json;

/// Go's strconv.ParseBool: the forms the simulator reads X-Send-Image in.
std::optional<bool> go_bool(std::string_view v) {
  for (auto t : {"1", "t", "T", "TRUE", "true", "True"})
    if (v == t) return true;
  for (auto f : {"0", "f", "F", "FALSE", "false", "False"})
    if (v == f) return false;
  return std::nullopt;
}

ordered image_block() {
  return {{"type", "image_url"}, {"image_url", {{"url", omni_image_url()}}}};
}

/// Runs `then` on the exchange's I/O thread after `delay` (at once when it is zero).
void after(const std::shared_ptr<http::exchange>& ex, std::chrono::nanoseconds delay,
           std::function<void()> then) {
  if (delay.count() <= 0) return then();
  auto timer = std::make_shared<boost::asio::steady_timer>(ex->executor(), delay);
  timer->async_wait([timer, then = std::move(then)](const boost::system::error_code&) { then(); });
}

}  // namespace

uint64_t omni_output::next() {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull * (draws.fetch_add(1, std::memory_order_relaxed) + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool omni_output::send_image(std::string_view header) {
  if (!enabled) return false;
  if (go_bool(header).value_or(false)) return true;
  int rate = emission_rate.load(std::memory_order_relaxed);
  return rate > 0 && static_cast<int>(next() % 100) + 1 <= rate;  // 1..100 <= rate
}

std::chrono::nanoseconds omni_output::image_delay() {
  auto mean = static_cast<double>(image_ns.load(std::memory_order_relaxed));
  auto sd = static_cast<double>(image_sd_ns.load(std::memory_order_relaxed));
  if (mean <= 0) return std::chrono::nanoseconds(0);
  double value = mean;
  if (sd > 0) {  // Box-Muller from two uniform draws in (0, 1]
    double u1 = (static_cast<double>(next() >> 11) + 1) / 9007199254740992.0;
    double u2 = static_cast<double>(next() >> 11) / 9007199254740992.0;
    value += sd * std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::max(0.0, value)));
}

std::string_view omni_image_url() {
  // A 1x1 grey PNG, made for this purpose.
  return "data:image/png;base64,"
         "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNoaGj4DwAFhAKAU5N0NgAAAABJRU5E"
         "rkJggg==";
}

std::string with_image_blocks(std::string_view chat_body) {
  auto body = ordered::parse(chat_body, nullptr, false);
  if (body.is_discarded() || !body.contains("choices")) return std::string(chat_body);
  for (auto& choice : body["choices"]) {
    if (!choice.contains("message")) continue;
    auto& message = choice["message"];
    bool tools = message.contains("tool_calls") && message["tool_calls"].is_array() &&
                 !message["tool_calls"].empty();
    ordered blocks = ordered::array();
    if (!tools) {
      std::string text = message.contains("content") && message["content"].is_string()
                             ? message["content"].get<std::string>()
                             : std::string();
      blocks.push_back({{"type", "text"}, {"text", text}});
    }
    blocks.push_back(image_block());
    message["content"] = std::move(blocks);
  }
  return body.dump();
}

std::string with_text_blocks(std::string_view frames) {
  static constexpr std::string_view data = "data: ", end = "\n\n";
  std::string out;
  out.reserve(frames.size() + 64);
  while (!frames.empty()) {
    auto stop = frames.find(end);
    auto frame = frames.substr(0, stop == std::string_view::npos ? frames.size() : stop);
    frames.remove_prefix(stop == std::string_view::npos ? frames.size() : stop + end.size());
    std::optional<ordered> chunk;
    if (frame.substr(0, data.size()) == data) {
      auto j = ordered::parse(frame.substr(data.size()), nullptr, false);
      if (!j.is_discarded() && j.is_object()) chunk = std::move(j);
    }
    bool changed = false;
    if (chunk && chunk->contains("choices") && (*chunk)["choices"].is_array())
      for (auto& choice : (*chunk)["choices"]) {
        if (!choice.contains("delta")) continue;
        auto& delta = choice["delta"];
        if (!delta.contains("content") || !delta["content"].is_string()) continue;
        auto text = delta["content"].get<std::string>();
        if (text.empty()) continue;
        delta["content"] = ordered::array({{{"type", "text"}, {"text", text}}});
        changed = true;
      }
    if (changed) {
      out += data;
      out += chunk->dump();
    } else {
      out += frame;
    }
    if (stop != std::string_view::npos) out += end;
  }
  return out;
}

std::string sse_image_chunk(const openai::response_meta& meta, int index) {
  ordered chunk{
      {"id", meta.id},
      {"object", "chat.completion.chunk"},
      {"created", meta.created},
      {"model", meta.model},
      {"choices", ordered::array({{{"index", index},
                                   {"delta", {{"content", ordered::array({image_block()})}}},
                                   {"logprobs", nullptr},
                                   {"finish_reason", nullptr}}})},
      {"modality", "image"}};
  return "data: " + chunk.dump() + "\n\n";
}

void finish_stream_with_image(std::shared_ptr<http::exchange> ex, const openai::response_meta& meta,
                              size_t choices, std::chrono::nanoseconds delay, std::string tail) {
  std::string images;
  for (size_t i = 0; i < std::max<size_t>(choices, 1); ++i)
    images += sse_image_chunk(meta, static_cast<int>(i));
  after(ex, delay, [ex, out = images + tail] {
    ex->write(out);
    ex->finish();
  });
}

void respond_with_image(std::shared_ptr<http::exchange> ex, std::string_view body,
                        http::header_list headers, std::chrono::nanoseconds delay) {
  after(ex, delay, [ex, out = with_image_blocks(body), headers = std::move(headers)]() mutable {
    ex->respond(http::status::ok, std::move(out), "application/json", std::move(headers));
  });
}

}  // namespace inferstack::gateway
