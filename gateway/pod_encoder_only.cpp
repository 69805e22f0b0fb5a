// Encoder-only answers; see pod_encoder_only.hpp.
#include "gateway/pod_encoder_only.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "runtime/base64.hpp"
#include "runtime/tokenizer.hpp"

namespace inferstack::gateway {

namespace {

using ordered = nlohmann::ordered_json;

std::string sim_mm_hash(std::string_view prefix, int index, std::string_view identifier) {
  char hex[16];
  std::snprintf(hex, sizeof hex, "%x", runtime::fnv1a_32(identifier));
  return "sim_" + std::string(prefix) + "_" + std::to_string(index) + "_" + hex;
}

/// A string member of `j` at `key`, or empty.
std::string text_at(const ordered& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

std::vector<std::string> chat_mm_hashes(std::string_view request_body) {
  std::vector<std::string> out;
  auto body = ordered::parse(request_body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("messages") ||
      !body["messages"].is_array())
    return out;
  int images = 0, audios = 0, videos = 0;
  for (const auto& message : body["messages"]) {
    if (!message.is_object() || !message.contains("content") || !message["content"].is_array())
      continue;
    for (const auto& part : message["content"]) {
      auto type = text_at(part, "type");
      if (type == "image_url" && part.contains("image_url")) {
        auto url = text_at(part["image_url"], "url");
        if (!url.empty()) out.push_back(sim_mm_hash("img", images++, url));
      } else if (type == "input_audio" && part.contains("input_audio")) {
        auto data = text_at(part["input_audio"], "data");
        if (!data.empty()) out.push_back(sim_mm_hash("audio", audios++, data));
      } else if (type == "video_url" && part.contains("video_url")) {
        auto url = text_at(part["video_url"], "url");
        if (!url.empty()) out.push_back(sim_mm_hash("video", videos++, url));
      }
    }
  }
  return out;
}

std::vector<std::string> generate_mm_hashes(std::string_view request_body) {
  std::vector<std::string> out;
  auto body = ordered::parse(request_body, nullptr, false);
  if (body.is_discarded() || !body.is_object() || !body.contains("features")) return out;
  const auto& features = body["features"];
  if (!features.is_object() || !features.contains("mm_hashes") ||
      !features["mm_hashes"].is_object())
    return out;
  for (const auto& [modality, hashes] : features["mm_hashes"].items()) {
    if (!hashes.is_array()) continue;
    for (const auto& h : hashes)
      if (h.is_string()) out.push_back(h.get<std::string>());
  }
  return out;
}

std::string with_ec_transfer_params(std::string_view body, const std::vector<std::string>& hashes) {
  if (hashes.empty()) return std::string(body);
  auto j = ordered::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::string(body);
  // Placeholders, as the simulator's: no encoder cache is really handed over.
  static const std::string metadata = runtime::base64_encode("NIXL_METADATA_PLACEHOLDER");
  ordered params = ordered::object();
  for (const auto& h : hashes)
    params[h] = {{"peer_host", "DUMMY"},
                 {"peer_port", 1234},
                 {"size_bytes", 2359296},
                 {"nixl_agent_metadata_b64", metadata}};
  j["ec_transfer_params"] = std::move(params);
  return j.dump();
}

}  // namespace inferstack::gateway
