// --mm-encoder-only's answers: the stub multimodal hashes of a chat request's parts, a generate
// request's own hashes, and the ec_transfer_params added to a whole response.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gateway/pod_encoder_only.hpp"

using namespace inferstack;
using nlohmann::json;

TEST_CASE("pod encoder-only: a chat request's images, audio and video get one hash each") {
  auto hashes = gateway::chat_mm_hashes(R"({"model":"m","messages":[
      {"role":"user","content":[{"type":"text","text":"describe"},
        {"type":"image_url","image_url":{"url":"https://example.com/a.png"}},
        {"type":"image_url","image_url":{"url":"https://example.com/b.png"}},
        {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]},
      {"role":"user","content":[{"type":"video_url","video_url":{"url":"https://e.com/v.mp4"}},
        {"type":"image_url","image_url":{"url":""}}]}]})");
  REQUIRE(hashes.size() == 4);
  CHECK(hashes[0].rfind("sim_img_0_", 0) == 0);
  CHECK(hashes[1].rfind("sim_img_1_", 0) == 0);
  CHECK(hashes[2].rfind("sim_audio_0_", 0) == 0);
  CHECK(hashes[3].rfind("sim_video_0_", 0) == 0);
  // deterministic: the same image hashes the same (a decoder's cache hits on repeats)
  CHECK(
      gateway::chat_mm_hashes(
          R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]})") ==
      std::vector<std::string>{hashes[0]});
  CHECK(gateway::chat_mm_hashes(R"({"messages":[{"role":"user","content":"hi"}]})").empty());
  CHECK(gateway::chat_mm_hashes("not json").empty());
}

TEST_CASE("pod encoder-only: a generate request brings its hashes in features.mm_hashes") {
  auto hashes = gateway::generate_mm_hashes(
      R"({"token_ids":[1],"features":{"mm_hashes":{"image":["abc123hash","def456hash"]}}})");
  CHECK(hashes == std::vector<std::string>{"abc123hash", "def456hash"});
  CHECK(gateway::generate_mm_hashes(R"({"token_ids":[1]})").empty());
}

TEST_CASE("pod encoder-only: ec_transfer_params for each hash, left out without any") {
  std::string body = R"({"id":"x","choices":[],"kv_transfer_params":null})";
  CHECK(gateway::with_ec_transfer_params(body, {}) == body);
  auto out = gateway::with_ec_transfer_params(body, {"h1", "h2"});
  auto j = json::parse(out);
  REQUIRE(j["ec_transfer_params"].size() == 2);
  for (const auto* h : {"h1", "h2"}) {
    const auto& p = j["ec_transfer_params"][h];
    CHECK_FALSE(p["peer_host"].get<std::string>().empty());
    CHECK(p["peer_port"].get<int>() > 0);
    CHECK(p["size_bytes"].get<int>() > 0);
    CHECK(p["nixl_agent_metadata_b64"] == "TklYTF9NRVRBREFUQV9QTEFDRUhPTERFUg==");
  }
  CHECK(out.find(R"({"id":"x","choices":[],"kv_transfer_params":null,"ec_transfer_params")") == 0);
}
