// Omni mode's output shapes as llm-d-inference-sim's clients read them: content blocks in a whole
// response, text blocks in streamed chunks, the image chunk; and who gets an image (the
// X-Send-Image header's Go bool forms, the emission rate), and its generation delay.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "gateway/pod_omni.hpp"
#include "openai/response.hpp"

using namespace inferstack;
using nlohmann::json;

TEST_CASE("pod omni: a whole chat completion gets a text block and an image block") {
  openai::response_meta meta{"chatcmpl-1", 7, "m"};
  auto plain = openai::chat_response_json(meta, {{0, "hello there", "stop"}}, {3, 2});
  auto body = json::parse(gateway::with_image_blocks(plain));
  auto content = body["choices"][0]["message"]["content"];
  REQUIRE(content.is_array());
  REQUIRE(content.size() == 2);
  CHECK(content[0] == json{{"type", "text"}, {"text", "hello there"}});
  CHECK(content[1]["type"] == "image_url");
  CHECK(content[1]["image_url"]["url"].get<std::string>().rfind("data:image/png;base64,", 0) == 0);
  // everything else as it was, in its order
  auto before = json::parse(plain);
  body["choices"][0]["message"]["content"] = before["choices"][0]["message"]["content"];
  CHECK(body == before);
  CHECK(gateway::with_image_blocks(plain).find("\"id\":\"chatcmpl-1\"") < 10);
}

TEST_CASE("pod omni: beside tool calls the content is the image alone") {
  auto body = json::parse(gateway::with_image_blocks(
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":null,)"
      R"("tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}]})"));
  auto content = body["choices"][0]["message"]["content"];
  REQUIRE(content.size() == 1);
  CHECK(content[0]["type"] == "image_url");
}

TEST_CASE("pod omni: streamed content strings become one text block each") {
  openai::response_meta meta{"chatcmpl-2", 7, "m"};
  std::string frames = openai::sse_chat_role_chunk(meta, 0) +
                       openai::sse_chat_content_chunk(meta, 0, "a \"quoted\" word") +
                       openai::sse_chat_finish_chunk(meta, 0, "stop");
  auto out = gateway::with_text_blocks(frames);
  std::vector<json> chunks;
  for (size_t at = 0; (at = out.find("data: ", at)) != std::string::npos;) {
    auto end = out.find("\n\n", at);
    REQUIRE(end != std::string::npos);
    chunks.push_back(json::parse(out.substr(at + 6, end - at - 6)));
    at = end;
  }
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0]["choices"][0]["delta"]["content"] == "");  // the role chunk: unchanged
  CHECK(chunks[1]["choices"][0]["delta"]["content"] ==
        json::array({{{"type", "text"}, {"text", "a \"quoted\" word"}}}));
  CHECK(chunks[2]["choices"][0]["finish_reason"] == "stop");
  CHECK(chunks[2]["choices"][0]["delta"]["content"] == "");
  CHECK(gateway::with_text_blocks(openai::sse_done()) == openai::sse_done());
}

TEST_CASE("pod omni: the image chunk carries modality image and one image block") {
  openai::response_meta meta{"chatcmpl-3", 9, "m"};
  auto frame = gateway::sse_image_chunk(meta, 1);
  REQUIRE(frame.rfind("data: ", 0) == 0);
  REQUIRE(frame.size() > 8);
  CHECK(frame.substr(frame.size() - 2) == "\n\n");
  auto chunk = json::parse(frame.substr(6));
  CHECK(chunk["id"] == "chatcmpl-3");
  CHECK(chunk["object"] == "chat.completion.chunk");
  CHECK(chunk["modality"] == "image");
  CHECK(chunk["choices"][0]["index"] == 1);
  auto blocks = chunk["choices"][0]["delta"]["content"];
  REQUIRE(blocks.size() == 1);
  CHECK(blocks[0]["image_url"]["url"] == std::string(gateway::omni_image_url()));
}

TEST_CASE("pod omni: X-Send-Image in Go's bool forms, else the emission rate, never without omni") {
  gateway::omni_output omni;
  CHECK_FALSE(omni.send_image("true"));  // --omni off
  omni.enabled = true;
  for (auto yes : {"1", "t", "T", "TRUE", "true", "True"})
    CHECK(omni.send_image(yes));
  for (auto no : {"", "0", "false", "yes", "on", "tRuE"})
    CHECK_FALSE(omni.send_image(no));
  omni.emission_rate = 100;
  for (int i = 0; i < 50; ++i)
    CHECK(omni.send_image(""));
  CHECK(omni.send_image("false"));  // the rate still draws, as the simulator's
  omni.emission_rate = 50;
  int images = 0;
  for (int i = 0; i < 1000; ++i)
    images += omni.send_image("") ? 1 : 0;
  CHECK(images > 400);
  CHECK(images < 600);
}

TEST_CASE("pod omni: the image's generation delay is its time, spread by its std-dev") {
  gateway::omni_output omni;
  CHECK(omni.image_delay().count() == 0);
  omni.image_ns = 500'000'000;
  CHECK(omni.image_delay() == std::chrono::milliseconds(500));
  omni.image_sd_ns = 50'000'000;
  double sum = 0;
  bool spread = false;
  for (int i = 0; i < 400; ++i) {
    auto d = omni.image_delay();
    CHECK(d.count() >= 0);
    spread = spread || d != std::chrono::milliseconds(500);
    sum += static_cast<double>(d.count());
  }
  CHECK(spread);
  CHECK(sum / 400 == Approx(500e6).epsilon(0.05));
}
