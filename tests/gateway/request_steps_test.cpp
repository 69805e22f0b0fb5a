// The gateway's decisions as plain functions: no sockets, no actors -- each step is given its
// inputs and its answer is checked.
#include <catch2/catch.hpp>

#include "actors/pod/pod_protocol.hpp"
#include "actors/router/router_protocol.hpp"
#include "gateway/request_steps.hpp"
#include "runtime/errors.hpp"

using namespace inferstack;
using namespace inferstack::gateway;
namespace picker = actors::picker;
namespace pod = actors::pod;

namespace {

std::string render(const caf::error& err) {
  return "rendered(" + std::to_string(err.code()) + ")";
}

const error_renderer renderer = render;

pool_entry pool_of(std::string failure_mode, std::vector<picker::pool_member> members = {}) {
  pool_entry pool;
  pool.ns = "team-a";
  pool.name = "p";
  pool.failure_mode = std::move(failure_mode);
  pool.members = std::move(members);
  return pool;
}

picker::pool_member member(std::string name, bool ready = true, bool draining = false) {
  picker::pool_member m;
  m.pod = std::move(name);
  m.endpoint = "actor:" + m.pod;
  m.ready = ready;
  m.draining = draining;
  return m;
}

const stack_error* stack_of(const error_answer& a) {
  return std::get_if<stack_error>(&a);
}

const openai_answer* openai_of(const error_answer& a) {
  return std::get_if<openai_answer>(&a);
}

}  // namespace

TEST_CASE("route_of: the OpenAI paths by method, 405 for a known path, 404 otherwise") {
  CHECK(route_of("/v1/chat/completions", false, true) == api_route::chat);
  CHECK(route_of("/v1/completions", false, true) == api_route::completions);
  CHECK(route_of("/v1/models", true, false) == api_route::models);
  CHECK(route_of("/v1/models", false, true) == api_route::not_allowed);
  CHECK(route_of("/v1/completions", true, false) == api_route::not_allowed);
  CHECK(route_of("/v2/anything", true, false) == api_route::not_found);
  CHECK(route_of("/v1/models/m", true, false) == api_route::model);
  CHECK(route_of("/v1/models/m", false, true) == api_route::not_allowed);
  CHECK(route_of("/v1/models/", true, false) == api_route::not_found);
  CHECK(route_of("/v1/embeddings", false, true) == api_route::embeddings);
  CHECK(route_of("/v1/embeddings", true, false) == api_route::not_allowed);
  CHECK(model_of_path("/v1/models/meta-llama/Llama-3.1-8B") == "meta-llama/Llama-3.1-8B");
  CHECK(model_of_path("/v1/models/meta-llama%2FLlama-3.1-8B") == "meta-llama/Llama-3.1-8B");
  CHECK(model_of_path("/v1/models/bad%zz") == "bad%zz");
}

TEST_CASE("read_flow_headers: one pass, the first of a repeated header, llm-d's objective last") {
  http::request req;
  req.set(boost::beast::http::field::authorization, "Bearer k");
  req.insert("x-session-token", "s1");
  req.insert("x-session-token", "s2");
  req.insert("x-llm-d-inference-objective", "llm-d");
  req.insert("X-Inferstack-Priority", "3");
  req.insert("x-return-error", "503");
  auto h = read_flow_headers(req);
  CHECK(h.authorization == "Bearer k");
  CHECK(h.session == "s1");
  CHECK(h.objective == "llm-d");
  CHECK(h.priority == "3");
  CHECK(h.return_error == "503");
  req.insert("x-gateway-inference-objective", "gaie");
  CHECK(read_flow_headers(req).objective == "gaie");
}

TEST_CASE("read_flow_headers: x-llm-d-inference-fairness-id wins over the old name") {
  http::request req;
  req.insert("x-gateway-inference-fairness-id", "old");
  CHECK(read_flow_headers(req).fairness_id == "old");
  req.insert("x-llm-d-inference-fairness-id", "new");
  CHECK(read_flow_headers(req).fairness_id == "new");  // after the old one
  http::request reversed;
  reversed.insert("x-llm-d-inference-fairness-id", "new");
  reversed.insert("x-gateway-inference-fairness-id", "old");
  CHECK(read_flow_headers(reversed).fairness_id == "new");
}

TEST_CASE("read_flow_headers and pick_for: latency objectives from x-llm-d-slo-* or x-slo-*") {
  http::request req;
  req.insert("x-slo-ttft-ms", "500");
  req.insert("x-llm-d-slo-tpot-ms", "25.5");
  flow_state st;
  st.headers = read_flow_headers(req);
  CHECK(st.headers.slo_ttft == "500");
  CHECK(st.headers.slo_tpot == "25.5");
  auto pick = pick_for(st);
  CHECK(pick.slo_ttft_ms == 500);
  CHECK(pick.slo_tpot_ms == 25.5);
  // A value llm-d could not parse means no objective.
  for (std::string_view bad : {"fast", "-5", "0", "12ms", ""}) {
    st.headers.slo_ttft = bad;
    CHECK(pick_for(st).slo_ttft_ms == 0);
  }
}

TEST_CASE("refuse_unauthorized: admitted goes on, each refusal is a 401 worded for its cause") {
  namespace authz = actors::authorizer;
  CHECK_FALSE(refuse_unauthorized(authz::auth_verdict::allowed, "team-a"));
  auto missing = refuse_unauthorized(authz::auth_verdict::missing_key, "team-a");
  REQUIRE(missing);
  CHECK(missing->status == 401);
  CHECK(missing->message.find("You didn't provide an API key") == 0);
  auto unknown = refuse_unauthorized(authz::auth_verdict::unknown_namespace, "nowhere");
  REQUIRE(unknown);
  CHECK(unknown->message == "No API key is configured for namespace nowhere.");
  auto wrong = refuse_unauthorized(authz::auth_verdict::invalid_key, "team-a");
  REQUIRE(wrong);
  CHECK(wrong->code == "invalid_api_key");
}

TEST_CASE("route_refusal: the router's refusals name bbr, anything else is bbr_unavailable") {
  namespace router = actors::router;
  auto not_found =
      route_refusal(caf::make_error(router::router_errc::model_not_found, "m9"), "", renderer);
  REQUIRE(openai_of(not_found));
  CHECK(openai_of(not_found)->error.status == 404);
  CHECK(openai_of(not_found)->headers == http::header_list{{"x-kaito-error-source", "bbr"}});
  auto no_model = route_refusal(caf::make_error(router::router_errc::missing_model, "no model"),
                                R"({"prompt":"x"})", renderer);
  REQUIRE(openai_of(no_model));
  CHECK(openai_of(no_model)->error.status == 400);
  CHECK(openai_of(no_model)->error.param == std::optional<std::string>("model"));
  auto no_backend =
      route_refusal(caf::make_error(router::router_errc::no_backend, "weights 0"), "", renderer);
  REQUIRE(stack_of(no_backend));
  CHECK(stack_of(no_backend)->status == 500);
  auto gone = route_refusal(caf::make_error(caf::sec::request_receiver_down), "", renderer);
  REQUIRE(stack_of(gone));
  CHECK(stack_of(gone)->code == "bbr_unavailable");
  CHECK(stack_of(gone)->message.find("rendered(") != std::string::npos);
}

TEST_CASE("read_fault_header: ignored without the switch, a 400-599 status with it") {
  int code = 0;
  CHECK_FALSE(read_fault_header("503", false, code));
  CHECK(code == 0);
  CHECK_FALSE(read_fault_header("", true, code));
  CHECK_FALSE(read_fault_header("503", true, code));
  CHECK(code == 503);
  for (const auto* bad : {"1000", "99", "200", "abc", "-5", "503 "}) {
    int c = 0;
    auto refused = read_fault_header(bad, true, c);
    REQUIRE(refused);
    CHECK(refused->status == 400);
    CHECK(refused->param == std::optional<std::string>("x-return-error"));
    CHECK(c == 0);
  }
}

TEST_CASE("parse_whole: the generate request for a pod, or the body's 400") {
  parse_inputs in;
  in.kind = openai::endpoint::completions;
  in.body = R"({"model":"body-model","prompt":["a b","c"],"stream":true,"n":2})";
  in.request_id = "r1";
  in.model = "routed";
  in.created = 42;
  in.stream_window = 7;
  in.return_error = 503;
  auto out = parse_whole(in);
  auto* parsed = std::get_if<std::unique_ptr<parsed_request>>(&out);
  REQUIRE(parsed);
  const auto& p = **parsed;
  CHECK(p.meta.id == "cmpl-r1");
  CHECK(p.meta.created == 42);
  CHECK(p.meta.model == "routed");
  CHECK(p.gen.model == "routed");
  CHECK(p.gen.request_id == "r1");
  CHECK(p.gen.prompts.size() == 2);
  CHECK(p.gen.echo_texts == std::vector<std::string>{"a b", "c"});
  CHECK(p.gen.max_tokens == openai::vllm_completions_default_max_tokens);
  CHECK(p.gen.n == 2);
  CHECK(p.gen.stream);
  CHECK(p.gen.stream_window == 7);
  CHECK(p.gen.return_error == 503);
  CHECK(p.encoder);

  in.model_from_body = true;
  auto own = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&own));
  CHECK(std::get<std::unique_ptr<parsed_request>>(own)->gen.model == "body-model");

  in.kind = openai::endpoint::chat_completions;
  in.body = R"({"model":"m","messages":"not a list"})";
  auto refused = parse_whole(in);
  REQUIRE(std::get_if<openai::api_error>(&refused));
  CHECK(std::get<openai::api_error>(refused).status == 400);
}

TEST_CASE("parse_whole: a simulator pod's request rules") {
  parse_inputs in;
  in.kind = openai::endpoint::completions;
  in.body = R"({"model":"m","prompt":"a b c"})";
  in.request_id = "r1";
  in.simulator = true;
  auto out = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&out));
  // max_tokens unset: not vLLM's 16, the rest of the context (the pod draws the length)
  CHECK(std::get<std::unique_ptr<parsed_request>>(out)->gen.max_tokens == -1);

  const std::pair<openai::endpoint, const char*> below_one[] = {
      {openai::endpoint::completions, R"({"model":"m","prompt":"a","max_tokens":-1})"},
      {openai::endpoint::chat_completions,
       R"({"model":"m","messages":[{"role":"user","content":"a"}],"max_completion_tokens":-1})"}};
  for (auto [kind, body] : below_one) {
    in.kind = kind;
    in.body = body;
    auto refused = parse_whole(in);
    REQUIRE(std::get_if<openai::api_error>(&refused));
    CHECK(std::get<openai::api_error>(refused).status == 400);
    CHECK(std::get<openai::api_error>(refused).message ==
          "Max completion tokens and max tokens should be positive");
    in.simulator = false;  // vLLM's text otherwise
    auto vllm = parse_whole(in);
    REQUIRE(std::get_if<openai::api_error>(&vllm));
    CHECK(std::get<openai::api_error>(vllm).message.rfind("max_tokens must be at least 1", 0) == 0);
    in.simulator = true;
  }
}

TEST_CASE("read_prompt_only: the picker's tokens of a body, nothing for one that does not read") {
  auto chat = read_prompt_only(openai::endpoint::chat_completions,
                               R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(chat);
  CHECK_FALSE(chat->empty());
  auto ids = read_prompt_only(openai::endpoint::completions, R"({"model":"m","prompt":[5,6,7]})");
  REQUIRE(ids);
  CHECK(*ids == std::vector<uint32_t>{5, 6, 7});
  CHECK_FALSE(read_prompt_only(openai::endpoint::completions, "{not json"));
}

TEST_CASE("pick_for: the prompt's tokens, session, objective, priority and the pods tried") {
  flow_state st;
  st.request_id = "r1";
  st.route.model = "m";
  st.lean = true;
  st.pick_tokens = {1, 2};
  st.headers.session = "s";
  st.headers.objective = "o";
  st.headers.priority = "4";
  st.tried = {"pod-0"};
  auto pick = pick_for(st);
  CHECK(pick.request_id == "r1");
  CHECK(pick.model == "m");
  CHECK(pick.tokens == std::vector<uint32_t>{1, 2});
  CHECK(pick.session == "s");
  CHECK(pick.objective == "o");
  CHECK(pick.priority == 4);
  CHECK(pick.exclude == std::vector<std::string>{"pod-0"});
  st.headers.priority = "high";
  CHECK(pick_for(st).priority == picker::choose_pod{}.priority);
}

TEST_CASE("after_pick_error: the picker's refusals, scale from zero, and the failure mode") {
  auto open = pool_of("FailOpen", {member("a", false), member("b", true, true), member("c")});
  auto none = after_pick_error(caf::make_error(picker::picker_errc::no_endpoints, "x"), open, "r1",
                               {}, renderer);
  CHECK(std::holds_alternative<await_activation>(none));
  auto shed = after_pick_error(caf::make_error(picker::picker_errc::saturated, "x"), open, "r1", {},
                               renderer);
  REQUIRE(std::holds_alternative<error_answer>(shed));
  auto* answer = openai_of(std::get<error_answer>(shed));
  REQUIRE(answer);
  CHECK(answer->error.status == 429);
  CHECK(answer->headers ==
        http::header_list{{"x-llm-d-request-dropped-reason", "rejected-saturated"}});

  // FailOpen: the only Ready member that is not draining, unless it was tried already; a
  // picker that does not know its pool yet counts as unavailable.
  for (auto err : {caf::make_error(caf::sec::request_timeout),
                   caf::make_error(picker::picker_errc::not_ready, "x")}) {
    auto chosen = after_pick_error(err, open, "r1", {}, renderer);
    REQUIRE(std::holds_alternative<picker::chosen_pod>(chosen));
    CHECK(std::get<picker::chosen_pod>(chosen).pod == "c");
    CHECK(std::get<picker::chosen_pod>(chosen).endpoint == "actor:c");
  }
  auto tried =
      after_pick_error(caf::make_error(caf::sec::request_timeout), open, "r1", {"c"}, renderer);
  REQUIRE(std::holds_alternative<error_answer>(tried));
  REQUIRE(stack_of(std::get<error_answer>(tried)));
  CHECK(stack_of(std::get<error_answer>(tried))->code == "gateway_dataplane_unhealthy");

  auto closed = after_pick_error(caf::make_error(caf::sec::request_timeout),
                                 pool_of("FailClose", {member("c")}), "r1", {}, renderer);
  REQUIRE(std::holds_alternative<error_answer>(closed));
  REQUIRE(stack_of(std::get<error_answer>(closed)));
  CHECK(stack_of(std::get<error_answer>(closed))->status == 503);
  CHECK(stack_of(std::get<error_answer>(closed))->code == "gateway_not_programmed");

  auto empty = no_endpoints(open, " (starting)");
  CHECK(empty.error.status == 503);
  CHECK(empty.error.message == "InferencePool team-a/p has no ready endpoint (starting)");
}

TEST_CASE("after_pod_error: the retry policy before the first byte, and the answers after it") {
  auto unreachable = caf::make_error(runtime::transport_errc::peer_unreachable, "gone");
  auto draining = caf::make_error(pod::pod_errc::draining, "draining");
  auto queue_full = caf::make_error(pod::pod_errc::queue_full, "full");
  auto timeout = caf::make_error(caf::sec::request_timeout);

  pod_attempt fresh{"pod-0", false, true};
  CHECK(std::holds_alternative<retry_elsewhere>(after_pod_error(unreachable, fresh, renderer)));
  CHECK(std::holds_alternative<retry_elsewhere>(after_pod_error(draining, fresh, renderer)));
  CHECK(std::holds_alternative<retry_elsewhere>(after_pod_error(timeout, fresh, renderer)));
  // A pod's own refusal is not retried: it passes through unchanged.
  auto full = after_pod_error(queue_full, fresh, renderer);
  REQUIRE(std::holds_alternative<error_answer>(full));
  REQUIRE(openai_of(std::get<error_answer>(full)));
  CHECK(openai_of(std::get<error_answer>(full))->error.status == 429);

  // No attempts left (or no other pod to pick): the stack's own answers.
  pod_attempt last{"pod-0", false, false};
  auto late = after_pod_error(timeout, last, renderer);
  REQUIRE(std::holds_alternative<error_answer>(late));
  REQUIRE(stack_of(std::get<error_answer>(late)));
  CHECK(stack_of(std::get<error_answer>(late))->status == 504);
  auto lost = after_pod_error(unreachable, last, renderer);
  REQUIRE(stack_of(std::get<error_answer>(lost)));
  CHECK(stack_of(std::get<error_answer>(lost))->status == 502);
  auto busy = after_pod_error(draining, last, renderer);
  REQUIRE(openai_of(std::get<error_answer>(busy)));
  CHECK(openai_of(std::get<error_answer>(busy))->error.status == 503);

  // After the first byte only the stream can say so, never a retry.
  pod_attempt streaming{"pod-0", true, true};
  auto cut = after_pod_error(unreachable, streaming, renderer);
  REQUIRE(std::holds_alternative<end_stream>(cut));
  CHECK(std::get<end_stream>(cut).error.message.find("pod-0 failed mid-stream") !=
        std::string::npos);
  REQUIRE(std::holds_alternative<end_stream>(after_pod_error(queue_full, streaming, renderer)));
  CHECK(std::get<end_stream>(after_pod_error(queue_full, streaming, renderer)).error.status == 429);
}

TEST_CASE("arrive: the API asked for, and the client's request id only as a plain token") {
  auto fresh = [] { return std::string("fresh-1"); };
  http::request req{boost::beast::http::verb::post, "/v1/completions?x=1", 11};
  auto plain = arrive(req, fresh);
  CHECK(plain.route == api_route::completions);
  CHECK(plain.path == "/v1/completions");
  CHECK(plain.request_id == "fresh-1");
  req.set("x-request-id", "client-7");
  CHECK(arrive(req, fresh).request_id == "client-7");
  req.set("x-request-id", "not a token");
  CHECK(arrive(req, fresh).request_id == "fresh-1");
  req.method(boost::beast::http::verb::get);
  auto wrong_method = arrive(req, fresh);
  CHECK(wrong_method.route == api_route::not_allowed);
  CHECK(no_route_error(wrong_method).status == 405);
  req.target("/elsewhere");
  CHECK(no_route_error(arrive(req, fresh)).status == 404);
}

TEST_CASE("logprobs_asked: vLLM's and the simulator's counts of alternatives") {
  auto chat = [](const char* extra) {
    std::string body = R"({"model":"m","messages":[{"role":"user","content":"x"}])";
    body += extra;
    body += '}';
    return openai::parse_request(openai::endpoint::chat_completions, body).request();
  };
  auto cmpl = [](const char* extra) {
    std::string body = R"({"model":"m","prompt":"x")";
    body += extra;
    body += '}';
    return openai::parse_request(openai::endpoint::completions, body).request();
  };
  CHECK_FALSE(logprobs_asked(chat(""), false));
  CHECK_FALSE(logprobs_asked(chat(R"(,"top_logprobs":2)"), true));  // logprobs not true
  CHECK(logprobs_asked(chat(R"(,"logprobs":true)"), false) == 0);
  CHECK(logprobs_asked(chat(R"(,"logprobs":true)"), true) == 1);
  CHECK(logprobs_asked(chat(R"(,"logprobs":true,"top_logprobs":3)"), true) == 3);
  CHECK_FALSE(logprobs_asked(cmpl(""), false));
  CHECK(logprobs_asked(cmpl(R"(,"logprobs":0)"), false) == 0);
  CHECK_FALSE(logprobs_asked(cmpl(R"(,"logprobs":0)"), true));
  CHECK(logprobs_asked(cmpl(R"(,"logprobs":2)"), true) == 2);
}

TEST_CASE("parse_whole: a simulator pod streams with its own layout and logprobs") {
  parse_inputs in;
  in.kind = openai::endpoint::chat_completions;
  in.body =
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"logprobs":true})";
  in.request_id = "r1";
  in.simulator = true;
  auto out = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&out));
  auto& p = *std::get<std::unique_ptr<parsed_request>>(out);
  CHECK(p.logprobs == 1);
  REQUIRE(p.encoder);
  std::string frames;
  p.encoder->append_tokens(frames, 0, "x", "stop", 0);
  // Two frames: the text (with its logprobs), then the finish alone.
  CHECK(frames.find("\"finish_reason\":null") < frames.find("\"finish_reason\":\"stop\""));
  CHECK(frames.find("\"logprobs\":{\"content\"") != std::string::npos);

  // stream_options without stream: accepted here, refused by vLLM's rules.
  in.body = R"({"model":"m","messages":[{"role":"user","content":"x"}],)"
            R"("stream_options":{"include_usage":true}})";
  auto accepted = parse_whole(in);
  CHECK(std::get_if<std::unique_ptr<parsed_request>>(&accepted));
  in.simulator = false;
  auto refused = parse_whole(in);
  CHECK(std::get_if<openai::api_error>(&refused));
}

TEST_CASE("read_fault_header: the refusal names an invalid X-Return-Error value") {
  int code = 0;
  auto refused = read_fault_header("abc", true, code);
  REQUIRE(refused);
  CHECK(refused->message.rfind("Invalid X-Return-Error header value 'abc'", 0) == 0);
}

TEST_CASE("build_generate: echo mode answers the last message as the simulator renders it") {
  parse_inputs in;
  in.kind = openai::endpoint::chat_completions;
  in.body = R"({"model":"m","messages":[{"role":"user","content":[
      {"type":"text","text":"Describe this"},
      {"type":"image_url","image_url":{"url":"https://example.com/img.png"}}]}]})";
  in.request_id = "r1";
  auto out = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&out));
  CHECK(std::get<std::unique_ptr<parsed_request>>(out)->gen.echo_texts ==
        std::vector<std::string>{"Describe this\nimage: https://example.com/img.png"});
}

TEST_CASE("X-Cache-Threshold-Finish-Reason: read as Go's ParseBool, honoured by a simulator pod") {
  http::request req;
  req.insert("X-Cache-Threshold-Finish-Reason", "true");
  CHECK(read_flow_headers(req).cache_threshold_finish == "true");
  for (const auto* yes : {"1", "t", "T", "TRUE", "true", "True"})
    CHECK(header_true(yes));
  for (const auto* no : {"", "0", "false", "yes", "tRuE"})
    CHECK_FALSE(header_true(no));

  parse_inputs in;
  in.kind = openai::endpoint::chat_completions;
  in.body = R"({"model":"m","messages":[{"role":"user","content":"x"}]})";
  in.request_id = "r1";
  in.cache_threshold_finish = true;
  in.simulator = true;
  auto sim = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&sim));
  CHECK(std::get<std::unique_ptr<parsed_request>>(sim)->gen.cache_threshold_finish);
  in.simulator = false;  // not a header of the stack's gateway
  auto stack = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&stack));
  CHECK_FALSE(std::get<std::unique_ptr<parsed_request>>(stack)->gen.cache_threshold_finish);
}

TEST_CASE("build_generate: kv_transfer_params ask the pod for a remote prefill or a prefill only") {
  parse_inputs in;
  in.kind = openai::endpoint::completions;
  in.body = R"({"model":"m","prompt":"a b","kv_transfer_params":{"do_remote_prefill":true}})";
  in.request_id = "r1";
  in.model_from_body = true;
  auto out = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&out));
  CHECK(std::get<std::unique_ptr<parsed_request>>(out)->gen.remote_prefill);
  CHECK_FALSE(std::get<std::unique_ptr<parsed_request>>(out)->gen.remote_decode);
  in.kind = openai::endpoint::chat_completions;
  in.body =
      R"({"model":"m","messages":[{"role":"user","content":"x"}],"kv_transfer_params":{"do_remote_decode":true}})";
  auto decode = parse_whole(in);
  REQUIRE(std::get_if<std::unique_ptr<parsed_request>>(&decode));
  CHECK(std::get<std::unique_ptr<parsed_request>>(decode)->gen.remote_decode);
  // The prefill's answer carries the decoder's kv_transfer_params, as the simulator's does.
  auto params = nlohmann::json::parse(
      std::get<std::unique_ptr<parsed_request>>(decode)->meta.kv_transfer_params);
  CHECK(params["do_remote_prefill"] == true);
  CHECK(params["remote_port"] == 1234);
  CHECK(std::get<std::unique_ptr<parsed_request>>(out)->meta.kv_transfer_params.empty());
}
