// vLLM's /inference/v1/generate read and answered; see generate_api.hpp.
#include "openai/generate_api.hpp"

#include <nlohmann/json.hpp>

namespace inferstack::openai {

namespace {

using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

api_error unreadable(const std::string& detail) {
  return bad_request("Failed to read and parse request body, " + detail);
}

void read_kv_params(const json& p, generate_request_body& out) {
  if (!p.is_object()) return;
  if (p.contains("do_remote_decode") && p["do_remote_decode"].is_boolean())
    out.remote_decode = p["do_remote_decode"].get<bool>();
  if (p.contains("do_remote_prefill") && p["do_remote_prefill"].is_boolean())
    out.remote_prefill = p["do_remote_prefill"].get<bool>();
}

ordered choice(const std::vector<uint32_t>& ids, std::string_view finish_reason) {
  return ordered{{"index", 0},
                 {"finish_reason", finish_reason.empty() ? json() : json(finish_reason)},
                 {"token_ids", ids}};
}

}  // namespace

std::variant<generate_request_body, api_error> parse_generate(std::string_view text) {
  auto body = json::parse(text, nullptr, false);
  if (body.is_discarded()) return unreadable("invalid JSON");
  if (!body.is_object()) return unreadable("expected a JSON object");
  generate_request_body out;
  if (body.contains("model")) {
    if (!body["model"].is_string()) return unreadable("model must be a string");
    out.model = body["model"].get<std::string>();
  }
  const json& ids = body.contains("token_ids") ? body["token_ids"] : json();
  if (ids.is_null()) return bad_request("Missing input token_ids");
  if (!ids.is_array()) return unreadable("token_ids must be an array of token ids");
  for (const auto& id : ids) {
    if (!id.is_number_unsigned() || id.get<uint64_t>() > UINT32_MAX)
      return unreadable("token_ids must be an array of token ids");
    out.token_ids.push_back(id.get<uint32_t>());
  }
  const json& sampling = body.contains("sampling_params") ? body["sampling_params"] : json();
  if (sampling.is_null()) return bad_request("Missing sampling_params field");
  if (!sampling.is_object()) return unreadable("sampling_params must be an object");
  if (sampling.contains("max_tokens") && !sampling["max_tokens"].is_null()) {
    if (!sampling["max_tokens"].is_number_integer())
      return unreadable("sampling_params.max_tokens must be an integer");
    out.max_tokens = sampling["max_tokens"].get<int64_t>();
    if (*out.max_tokens < 1)
      return bad_request("Max completion tokens and max tokens should be positive");
  }
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) return unreadable("stream must be a boolean");
    out.stream = body["stream"].get<bool>();
  }
  if (body.contains("stream_options") && body["stream_options"].is_object())
    out.include_usage = body["stream_options"].value("include_usage", false);
  if (body.contains("ignore_eos") && body["ignore_eos"].is_boolean())
    out.ignore_eos = body["ignore_eos"].get<bool>();
  // vLLM sometimes passes kv_transfer_params in extra_args: the root's wins, as in the simulator.
  if (body.contains("kv_transfer_params") && body["kv_transfer_params"].is_object())
    read_kv_params(body["kv_transfer_params"], out);
  else if (sampling.contains("extra_args") && sampling["extra_args"].is_object() &&
           sampling["extra_args"].contains("kv_transfer_params"))
    read_kv_params(sampling["extra_args"]["kv_transfer_params"], out);
  return out;
}

std::string prefill_kv_transfer_params_json() {
  return ordered{{"do_remote_decode", false},
                 {"do_remote_prefill", true},
                 {"remote_engine_id", "DUMMY_ID"},
                 {"remote_block_ids", {"DUMMY_ID"}},
                 {"remote_host", "DUMMY"},
                 {"remote_port", 1234},
                 {"tp_size", 1}}
      .dump();
}

std::string generate_response_json(std::string_view request_id, const std::vector<uint32_t>& ids,
                                   std::string_view finish_reason, bool remote_decode) {
  ordered out;
  if (remote_decode) out["kv_transfer_params"] = ordered::parse(prefill_kv_transfer_params_json());
  out["choices"] = ordered::array({choice(ids, finish_reason)});
  out["request_id"] = request_id;
  out["ec_transfer_params"] = nullptr;
  return out.dump();
}

std::string sse_generate_chunk(std::string_view request_id, const std::vector<uint32_t>& ids,
                               std::string_view finish_reason) {
  ordered out{{"request_id", request_id},
              {"choices", ordered::array({choice(ids, finish_reason)})}};
  return "data: " + out.dump() + "\n\n";
}

std::string sse_generate_usage_chunk(std::string_view request_id, int64_t prompt_tokens,
                                     int64_t completion_tokens, int64_t cached_tokens) {
  ordered out{{"request_id", request_id},
              {"choices", ordered::array()},
              {"usage",
               {{"prompt_tokens", prompt_tokens},
                {"completion_tokens", completion_tokens},
                {"total_tokens", prompt_tokens + completion_tokens},
                {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}}}};
  return "data: " + out.dump() + "\n\n";
}

}  // namespace inferstack::openai
