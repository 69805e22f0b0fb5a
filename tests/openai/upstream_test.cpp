#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "openai/response.hpp"
#include "openai/upstream.hpp"

using namespace inferstack::openai;

namespace {

const response_meta meta{"chatcmpl-7", 1700000000, "m"};

// A full vLLM-shaped chat stream: role, content, finish with text, usage, [DONE].
std::string chat_stream() {
  return sse_chat_role_chunk(meta, 0) + sse_chat_content_chunk(meta, 0, "Hel") +
         sse_chat_content_chunk(meta, 0, "lo \"w\"\n") +
         sse_chat_finish_chunk(meta, 0, "length", "!") +
         sse_usage_chunk(meta, endpoint::chat_completions, usage{9, 4, 2}) + sse_done();
}

// The JSON of one "data: ...\n\n" frame.
std::string frame_body_for_test(const std::string& frame) {
  return frame.substr(6, frame.size() - 8);
}

std::vector<sse_event> drain(sse_reader& r) {
  std::vector<sse_event> out;
  while (auto ev = r.next())
    out.push_back(std::move(*ev));
  return out;
}

std::vector<sse_event> read_in_pieces(const std::string& stream, const std::vector<size_t>& cuts) {
  sse_reader r;
  std::vector<sse_event> events;
  size_t prev = 0;
  for (size_t cut : cuts) {
    r.feed(std::string_view(stream).substr(prev, cut - prev));
    for (auto& ev : drain(r))
      events.push_back(std::move(ev));
    prev = cut;
  }
  r.feed(std::string_view(stream).substr(prev));
  for (auto& ev : drain(r))
    events.push_back(std::move(ev));
  return events;
}

std::vector<std::string> datas(const std::vector<sse_event>& events) {
  std::vector<std::string> out;
  for (const auto& ev : events)
    out.push_back(ev.data);
  return out;
}

}  // namespace

TEST_CASE("sse_reader yields every frame of one chunk") {
  sse_reader r;
  r.feed(chat_stream());
  const auto events = drain(r);
  REQUIRE(events.size() == 6);
  CHECK(events[0].data.rfind(R"({"id":"chatcmpl-7")", 0) == 0);
  CHECK(events[5].is_done());
  CHECK(r.done());
  CHECK_FALSE(r.failed());
  CHECK(r.pending_bytes() == 0);
}

TEST_CASE("sse_reader: frames split at every byte position") {
  const std::string stream = chat_stream();
  const auto whole = datas(read_in_pieces(stream, {}));
  REQUIRE(whole.size() == 6);
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(datas(read_in_pieces(stream, {cut})) == whole);
  }
  std::vector<size_t> every_byte;
  for (size_t i = 1; i < stream.size(); ++i)
    every_byte.push_back(i);
  CHECK(datas(read_in_pieces(stream, every_byte)) == whole);
}

TEST_CASE("sse_reader handles CRLF and CR line ends split anywhere") {
  const std::string crlf = "data: one\r\n\r\ndata: two\r\ndata: 2b\r\n\r\n";
  const std::string cr = "data: one\r\rdata: two\rdata: 2b\r\r";
  const std::vector<std::string> expected = {"one", "two\n2b"};
  for (const auto& stream : {crlf, cr}) {
    CHECK(datas(read_in_pieces(stream, {})) == expected);
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      INFO("cut at " << cut);
      REQUIRE(datas(read_in_pieces(stream, {cut})) == expected);
    }
  }
  // A CR at the end of one feed and the LF at the start of the next are one line end.
  sse_reader r;
  r.feed("data: x\r");
  r.feed("\n\r");
  r.feed("\n");
  const auto events = drain(r);
  REQUIRE(events.size() == 1);
  CHECK(events[0].data == "x");
}

TEST_CASE("sse_reader: comments, event names, fields without a space, empty data") {
  sse_reader r;
  r.feed(
      ": keep-alive\n\nevent: response.created\ndata:{\"a\":1}\nid: 7\nretry: 10\n\n"
      "data\n\ndata:\n\nunknown: field\n\n");
  const auto events = drain(r);
  REQUIRE(events.size() == 3);
  CHECK(events[0].event == "response.created");
  CHECK(events[0].data == R"({"a":1})");
  CHECK(events[1].event.empty());
  CHECK(events[1].data.empty());  // "data" with no colon: an empty data line
  CHECK(events[2].data.empty());
  CHECK_FALSE(r.done());
}

TEST_CASE("sse_reader: an unfinished event is held, a leading BOM is skipped") {
  sse_reader r;
  r.feed("\xEF\xBB");
  r.feed(
      "\xBF"
      "data: first\n");
  CHECK_FALSE(r.next());
  CHECK(r.pending_bytes() > 0);
  r.feed("\n");
  auto ev = r.next();
  REQUIRE(ev);
  CHECK(ev->data == "first");
}

TEST_CASE("sse_reader: an error event then [DONE], as vLLM ends a failed stream") {
  sse_reader r;
  r.feed(sse_chat_content_chunk(meta, 0, "partial") +
         sse_error_event(internal_error("engine died"), error_style::sim) + sse_done());
  const auto events = drain(r);
  REQUIRE(events.size() == 3);
  const auto info = inspect_payload(events[1].data);
  REQUIRE(info);
  REQUIRE(info->error);
  CHECK(info->error->message == "engine died");
  CHECK(info->error->type == "InternalServerError");
  CHECK(info->error->status == 500);
  CHECK(info->choices.empty());
  CHECK(events[2].is_done());
  CHECK(r.done());
}

TEST_CASE("sse_reader fails past its buffer limit") {
  sse_reader r(64);
  r.feed("data: " + std::string(100, 'x'));
  CHECK(r.failed());
  r.feed("\n\n");
  CHECK_FALSE(r.next());
}

TEST_CASE("inspect_payload reads text, finish reasons, roles and usage from our chunks") {
  auto role = inspect_payload(R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
    "choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,
    "finish_reason":null}]})");
  REQUIRE(role);
  CHECK(role->object == "chat.completion.chunk");
  REQUIRE(role->choices.size() == 1);
  CHECK(role->choices[0].role == "assistant");
  CHECK(role->choices[0].text.empty());
  CHECK_FALSE(role->choices[0].finish_reason);
  CHECK_FALSE(role->usage);

  sse_reader r;
  r.feed(chat_stream());
  std::string text;
  std::optional<std::string> finish;
  std::optional<usage> final_usage;
  while (auto ev = r.next()) {
    if (ev->is_done()) break;
    auto info = inspect_payload(ev->data);
    REQUIRE(info);
    for (const auto& c : info->choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (info->usage) final_usage = info->usage;
  }
  CHECK(text == "Hello \"w\"\n!");
  CHECK(finish == "length");
  REQUIRE(final_usage);
  CHECK(*final_usage == usage{9, 4, 2});
}

TEST_CASE("inspect_payload on completion chunks and continuous usage") {
  auto info = inspect_payload(
      frame_body_for_test(sse_completion_chunk(meta, 3, "tok", "stop", usage{5, 1, 0})));
  REQUIRE(info);
  REQUIRE(info->choices.size() == 1);
  CHECK(info->choices[0].index == 3);
  CHECK(info->choices[0].text == "tok");
  CHECK(info->choices[0].finish_reason == "stop");
  REQUIRE(info->usage);
  CHECK(info->usage->prompt_tokens == 5);
  CHECK(info->usage->completion_tokens == 1);
  CHECK_FALSE(info->usage->cached_tokens);  // "prompt_tokens_details": null
  auto plain = inspect_payload(frame_body_for_test(sse_completion_chunk(meta, 0, "x")));
  REQUIRE(plain);
  CHECK_FALSE(plain->usage);  // "usage": null
}

TEST_CASE("parse_usage on non-streamed responses") {
  CHECK(parse_usage(chat_response_json(meta, {{0, "hi", "stop"}}, usage{11, 2, 5})) ==
        usage{11, 2, 5});
  CHECK(parse_usage(completion_response_json(
            meta, {{0, "hi", "stop"}}, usage{1, 2, std::nullopt})) == usage{1, 2, std::nullopt});
  // Real OpenAI / vLLM variants: extra fields, details with more keys, usage first.
  CHECK(parse_usage(R"({"usage":{"completion_tokens":3,"prompt_tokens":4,"total_tokens":7,
    "prompt_tokens_details":{"audio_tokens":0,"cached_tokens":2},"completion_tokens_details":
    {"reasoning_tokens":0}},"choices":[{"message":{"content":"x","usage":{"prompt_tokens":99}}}]})") ==
        usage{4, 3, 2});
  CHECK_FALSE(parse_usage(R"({"choices":[]})"));
  CHECK_FALSE(parse_usage(R"({"usage":null})"));
  CHECK_FALSE(parse_usage("not json"));
  CHECK_FALSE(parse_usage("[1,2]"));
}

TEST_CASE("inspect_payload on a non-streamed chat response and on errors") {
  auto info = inspect_payload(
      chat_response_json(meta, {{0, "a", "stop"}, {1, "b", "length"}}, usage{1, 2, 0}));
  REQUIRE(info);
  REQUIRE(info->choices.size() == 2);
  CHECK(info->choices[0].text == "a");
  CHECK(info->choices[0].role == "assistant");
  CHECK(info->choices[1].index == 1);
  CHECK(info->choices[1].finish_reason == "length");
  CHECK_FALSE(info->error);

  auto openai_error = inspect_payload(error_json(model_not_found("x")));
  REQUIRE(openai_error);
  REQUIRE(openai_error->error);
  CHECK(openai_error->error->code == "model_not_found");
  CHECK(openai_error->error->param == "model");
  CHECK(openai_error->error->status == 0);

  // Older vLLM sent errors flat.
  auto flat =
      inspect_payload(R"({"object":"error","message":"max_tokens must be at least 1, got 0.",)"
                      R"("type":"BadRequestError","param":null,"code":400})");
  REQUIRE(flat);
  REQUIRE(flat->error);
  CHECK(flat->error->status == 400);
  CHECK(flat->error->type == "BadRequestError");
  CHECK_FALSE(flat->error->param);
  CHECK(flat->error->message == "max_tokens must be at least 1, got 0.");
  auto plain_text = inspect_payload(R"({"error":"upstream exploded"})");
  REQUIRE(plain_text);
  REQUIRE(plain_text->error);
  CHECK(plain_text->error->message == "upstream exploded");
  CHECK_FALSE(inspect_payload("[DONE]"));
  CHECK_FALSE(inspect_payload("\"str\""));
}
