// libFuzzer target for the OpenAI codec. Beyond "does not crash" it checks the properties the
// gateway relies on, trapping when one fails:
//  - extract_model accepts exactly the bodies nlohmann accepts, and finds the model that
//    parse_request finds (and the same error when the model is the problem);
//  - every serialiser emits valid JSON that round-trips the strings it was given;
//  - json_escape always yields a valid JSON string;
//  - sse_reader yields the same events whether the bytes come whole or in pieces;
//  - extract_picking_prompt reads, on every body the router lets through that parse_request
//    accepts, the prompt parse_request reads.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "openai/openai_api.hpp"
#include "openai/picking_prompt.hpp"
#include "runtime/json_escape.hpp"

namespace {

using namespace inferstack::openai;
using inferstack::runtime::append_json_string;
using inferstack::runtime::is_valid_utf8;
using json = nlohmann::json;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

// The JSON of one SSE frame, checked for framing and validity.
json frame_json(const std::string& frame) {
  require(frame.size() > 8 && frame.compare(0, 6, "data: ") == 0 &&
          frame.compare(frame.size() - 2, 2, "\n\n") == 0);
  const std::string_view payload(frame.data() + 6, frame.size() - 8);
  require(payload.find('\n') == std::string_view::npos);
  json j = json::parse(payload, nullptr, false);
  require(!j.is_discarded());
  return j;
}

json body_json(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  require(!j.is_discarded());
  return j;
}

// A text taken from the request, to push through the serialisers.
std::string sample_text(const completion_request& req) {
  if (!req.messages.empty()) return req.messages.back().content;
  if (const auto* s = std::get_if<std::string>(&req.prompt)) return *s;
  if (const auto* v = std::get_if<std::vector<std::string>>(&req.prompt)) return v->front();
  return req.user.value_or("");
}

void check_serialisers(const completion_request& req) {
  const response_meta meta{"chatcmpl-fuzz", 1700000000, req.model};
  const std::string text = sample_text(req);
  const usage use{static_cast<int64_t>(text.size()), req.n, req.seed};
  const std::vector<choice_result> choices{{0, text, "stop"}, {1, req.model, ""}};

  auto chat = body_json(chat_response_json(meta, choices, use));
  require(chat["model"] == req.model);
  require(chat["choices"][0]["message"]["content"] == text);
  auto cmpl = body_json(completion_response_json(meta, choices, use));
  require(cmpl["choices"][1]["text"] == req.model);

  require(frame_json(sse_chat_role_chunk(meta, req.n))["model"] == req.model);
  require(frame_json(sse_chat_content_chunk(meta, 0, text,
                                            use))["choices"][0]["delta"]["content"] == text);
  const json finish = frame_json(sse_chat_finish_chunk(meta, 0, "length", text))["choices"][0];
  require(finish["finish_reason"] == "length" && finish["delta"]["content"] == text);
  require(frame_json(sse_completion_chunk(meta, 0, text, req.model))["choices"][0]["text"] == text);
  require(frame_json(sse_usage_chunk(meta, req.kind, use))["usage"]["prompt_tokens"] ==
          use.prompt_tokens);

  const stream_encoder encoder(endpoint::chat_completions, meta);
  std::string out;
  encoder.append_content(out, 0, text);
  require(out == sse_chat_content_chunk(meta, 0, text));

  model_card card;
  card.id = req.model;
  card.root = text;
  card.permission_id = req.user;
  require(body_json(models_list_json({card}))["data"][0]["id"] == req.model);

  // The inspector reads back what the serialisers wrote.
  const auto info = inspect_payload(frame_json(sse_chat_content_chunk(meta, 0, text)).dump());
  require(info && info->choices.size() == 1 && info->choices[0].text == text);
}

void check_errors(const api_error& err) {
  for (auto style : {error_style::openai, error_style::sim}) {
    auto j = body_json(error_json(err, style));
    // Parser messages quote input bytes, which may be invalid UTF-8 (then replaced).
    if (is_valid_utf8(err.message)) require(j["error"]["message"] == err.message);
    frame_json(sse_error_event(err, style));
  }
}

void check_sse(std::string_view bytes) {
  auto read_all = [](sse_reader& r, std::vector<sse_event>& out) {
    while (auto ev = r.next())
      out.push_back(std::move(*ev));
  };
  sse_reader whole;
  std::vector<sse_event> a;
  whole.feed(bytes);
  read_all(whole, a);

  sse_reader split;
  std::vector<sse_event> b;
  const size_t mid = bytes.size() / 2;
  split.feed(bytes.substr(0, mid));
  read_all(split, b);
  split.feed(bytes.substr(mid));
  read_all(split, b);

  sse_reader bytewise;
  std::vector<sse_event> c;
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytewise.feed(bytes.substr(i, 1));
    read_all(bytewise, c);
  }
  require(a.size() == b.size() && a.size() == c.size());
  for (size_t i = 0; i < a.size(); ++i) {
    require(a[i].data == b[i].data && a[i].data == c[i].data);
    require(a[i].event == b[i].event && a[i].event == c[i].event);
    inspect_payload(a[i].data);
  }
}

}  // namespace

// What the picker reads for a request the gateway forwards over HTTP must be what an
// in-process pod's tokenizer would see.
void check_picking_prompt(endpoint kind, std::string_view body, const completion_request& req) {
  auto got = extract_picking_prompt(kind, body);
  require(got.has_value());
  if (kind == endpoint::chat_completions) {
    require(got->turns.size() == req.messages.size());
    for (size_t i = 0; i < req.messages.size(); ++i)
      require(got->turns[i].first == req.messages[i].role &&
              got->turns[i].second == req.messages[i].content);
    return;
  }
  if (const auto* s = std::get_if<std::string>(&req.prompt))
    require(!got->has_ids && got->text == *s);
  else if (const auto* v = std::get_if<std::vector<std::string>>(&req.prompt))
    require(!got->has_ids && got->text == v->front());
  else if (const auto* ids = std::get_if<token_ids>(&req.prompt))
    require(got->has_ids && got->ids == *ids);
  else if (const auto* batches = std::get_if<std::vector<token_ids>>(&req.prompt))
    require(got->has_ids && got->ids == batches->front());
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const bool valid_json = json::accept(body);
  const model_lookup lookup = extract_model(body);
  require((lookup.status != model_status::invalid_json) == valid_json);

  for (auto kind : {endpoint::chat_completions, endpoint::completions}) {
    const parse_result parsed = parse_request(kind, body);
    if (parsed.ok()) {
      const completion_request& req = parsed.request();
      require(lookup.found() && lookup.model == req.model);
      require(req.n >= 1);
      require(!req.max_tokens || *req.max_tokens >= 1);
      require(!req.ignore_eos || req.effective_max_tokens());
      check_picking_prompt(kind, body, req);
      check_serialisers(req);
    } else {
      const api_error& err = parsed.error();
      require(err.status == 400);
      check_errors(err);
      if (!lookup.found()) {
        // The model is the first thing checked after the body's type.
        const auto expected = model_lookup_error(lookup);
        require(expected.has_value());
        if (lookup.status != model_status::invalid_json) require(*expected == err);
      }
    }
  }

  // Inspecting an upstream payload never fails on valid JSON objects.
  const auto info = inspect_payload(body);
  require(info.has_value() == (valid_json && lookup.status != model_status::not_an_object));

  // Escaping any bytes gives a valid JSON string, exact for valid UTF-8.
  std::string quoted;
  append_json_string(quoted, body);
  const json round = json::parse(quoted, nullptr, false);
  require(!round.is_discarded());
  if (is_valid_utf8(body)) require(round.get_ref<const std::string&>() == body);

  check_sse(body);
  return 0;
}
