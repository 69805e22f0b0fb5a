// Every catalogue message survives its one wire encoding unchanged. A message added to the
// catalogue without a sample here does not compile: sample<T>() has no default.
#include <catch2/catch.hpp>

#include <set>

#include "protocol/catalogue.hpp"
#include "protocol/codec.hpp"
#include "runtime/errors.hpp"
#include "runtime/wire/wire_error.hpp"

using namespace inferstack;

namespace {

const protocol::catalogue_codec codec;

template <class T>
T sample();

template <>
wire::wire_error sample() {
  return {"transport", 3, "no actor named picker"};
}
template <>
actors::probe::probe_ping sample() {
  return {42, -7};
}
template <>
actors::probe::probe_pong sample() {
  return {42, 123456789, "gateway/0001"};
}
template <>
actors::probe::probe_echo sample() {
  return {"hello \xE2\x9C\x93 world"};
}
template <>
actors::probe::probe_stream_request sample() {
  return {9, 10000, 64};
}
template <>
actors::probe::probe_stream_item sample() {
  return {9, 17, std::string("\0binary\xff", 8)};
}
template <>
actors::probe::probe_stream_done sample() {
  return {9, 10000};
}
template <>
actors::probe::probe_note sample() {
  return {5, "note"};
}
template <>
actors::probe::probe_count_request sample() {
  return {};
}
template <>
actors::probe::probe_count sample() {
  return {77};
}

template <>
actors::authorizer::authorize_request sample() {
  return {"team-a", "Bearer sk-123", "req-1"};
}
template <>
actors::authorizer::authorize_result sample() {
  return {3};
}
template <>
actors::authorizer::namespace_keys sample() {
  return {"team-a", {std::string(64, 'a'), std::string(64, 'b')}, false};
}
template <>
actors::authorizer::key_set sample() {
  return {{{"team-a", {std::string(64, 'c')}, false}, {"team-b", {}, true}}};
}
template <>
actors::authorizer::key_set_applied sample() {
  return {2, 1};
}

template <>
actors::router::route_backend_entry sample() {
  return {"team-a", "llama-canary", 10};
}
template <>
actors::router::route_entry sample() {
  return {"team-a",
          "llama",
          "llama-3.1-8b",
          "",
          "PathPrefix",
          "/v1",
          {{"team-a", "llama", 90}, {"team-a", "llama-canary", 10}}};
}
template <>
actors::router::route_set sample() {
  return {{sample<actors::router::route_entry>()}};
}
template <>
actors::router::route_set_applied sample() {
  return {4};
}
template <>
actors::router::route_request sample() {
  return {"team-a", "/v1/chat/completions", R"({"model":"m","messages":[]})", "req-9"};
}
template <>
actors::router::route_decision sample() {
  return {"llama-3.1-8b", "team-a", "llama"};
}
template <>
actors::router::models_request sample() {
  return {"team-b"};
}
template <>
actors::router::model_list sample() {
  return {{"a", "b"}};
}

template <>
actors::pod::generate_request sample() {
  actors::pod::generate_request r;
  r.request_id = "req-1";
  r.model = "llama";
  r.api = 1;
  r.prompts = {{1, 2, 3}, {4, 5}};
  r.echo_texts = {"a b c", "d e"};
  r.n = 2;
  r.max_tokens = 16;
  r.ignore_eos = true;
  r.stream = true;
  r.stream_window = 8;
  r.return_error = 0;
  r.remote_prefill = true;
  return r;
}
template <>
actors::pod::token_chunk sample() {
  return {"req-1", 1, "hello ", 1, true, "length"};
}
template <>
actors::pod::stream_ack sample() {
  return {"req-1", 4};
}
template <>
actors::pod::cancel_request sample() {
  return {"req-1"};
}
template <>
actors::pod::choice_result sample() {
  return {1, "text", "length", 7};
}
template <>
actors::pod::generate_result sample() {
  return {"req-1", "pod-0", "llama", {{0, "a", "stop", 1}}, 10, 1, 16, 5, 6, 7};
}
template <>
actors::pod::load_report sample() {
  actors::pod::load_report r;
  r.pod = "pod-0";
  r.model = "llama";
  r.seq = 3;
  r.at_ns = 99;
  r.running = 2;
  r.waiting = 1;
  r.kv_usage = 0.25;
  r.inflight_tokens = 300;
  r.max_num_seqs = 256;
  r.block_size = 16;
  r.num_gpu_blocks = 1024;
  r.running_loras = {"a"};
  r.max_loras = 2;
  r.ready = true;
  return r;
}
template <>
actors::pod::kv_event_message sample() {
  return {"kv@10.0.0.1:8000@llama", 5, std::string("\x93\x00", 2)};
}
template <>
actors::pod::mark_ready sample() {
  return {"team-a/llama-4"};
}
template <>
actors::pod::drain_request sample() {
  return {};
}
template <>
actors::pod::drain_done sample() {
  return {"pod-0", 3};
}
template <>
actors::pod::status_request sample() {
  return {};
}
template <>
actors::pod::lora_change sample() {
  return {"sql-lora", "/models/sql", true};
}
template <>
actors::pod::lora_change_result sample() {
  return {false, "max loras reached"};
}
template <>
actors::pod::freeze_pod sample() {
  return {false};
}
template <>
actors::pod::apply_options sample() {
  return {{"time-to-first-token", "failure-types"}, {"250ms", "rate_limit,server_error"}};
}
template <>
actors::pod::options_applied sample() {
  return {{"--inter-token-latency: negative"}};
}
template <>
actors::pod::sleep_control sample() {
  return {false, true};
}

template <>
actors::picker::pool_member sample() {
  return {"team-a/llama-0",
          "actor:pod/team-a/llama-0",
          "10.0.0.1:8000",
          {{"llm-d.ai/role", "decode"}},
          true,
          false,
          "tcp://10.0.0.1:7201",
          "tcp://10.0.0.1:5557",
          "tcp://10.0.0.1:5558"};
}
template <>
actors::picker::pool_membership sample() {
  return {"team-a/llama", {sample<actors::picker::pool_member>()}};
}
template <>
actors::picker::choose_pod sample() {
  return {"req-1", "llama", {1, 2, 3}, "session-9", -1, "chat", {"team-a/llama-1"}, true};
}
template <>
actors::picker::chosen_pod sample() {
  return {"team-a/llama-0", "actor:pod/team-a/llama-0", "team-a/llama-p", "actor:p",
          R"({"pod":"team-a/llama-0"})"};
}
template <>
actors::picker::request_done sample() {
  return {"req-1", "team-a/llama-0", 100, 20, true};
}
template <>
actors::picker::cancel_pick sample() {
  return {"req-1"};
}
template <>
actors::picker::replica_decision sample() {
  return {"approx-prefix-cache-producer", "team-a/llama-0", {0x1234567890abcdefULL, 7}, 12000000};
}
template <>
actors::picker::replica_in_flight sample() {
  return {"team-a/llama-0", 3, 4096, 2};
}
template <>
actors::picker::replica_batch sample() {
  return {"team-a/llama",
          "team-a/llama#1",
          9,
          1700000000000000000,
          {sample<actors::picker::replica_decision>()},
          {sample<actors::picker::replica_in_flight>()}};
}
template <>
actors::picker::replica_snapshot_request sample() {
  return {"team-a/llama", "team-a/llama#2"};
}
template <>
actors::picker::replica_snapshot sample() {
  return {"team-a/llama",
          "team-a/llama#0",
          {sample<actors::picker::replica_decision>()},
          {sample<actors::picker::replica_in_flight>()},
          {"team-a/llama#1"}};
}
template <>
actors::picker::replica_peer sample() {
  return {"team-a/llama#1", "tcp://10.0.0.7:7300"};
}
template <>
actors::picker::replica_peers sample() {
  return {"team-a/llama", {sample<actors::picker::replica_peer>()}};
}
template <>
actors::picker::recent_picks sample() {
  return {16, "req-1"};
}
template <>
actors::picker::pick_decisions sample() {
  actors::picker::profile_decision p{"default",
                                     false,
                                     {{"by-label", {"team-a/llama-2"}}},
                                     {"queue-scorer", "kv-cache-utilization-scorer"},
                                     {2, 1},
                                     {{"team-a/llama-0", {1, 0.5}, 2.5}},
                                     "max-score-picker",
                                     true,
                                     {"team-a/llama-0"}};
  actors::picker::pick_decision d{7,
                                  "req-1",
                                  "llama",
                                  "team-a/llama",
                                  1700000000000,
                                  12000,
                                  "ok",
                                  "",
                                  {"team-a/llama-0", "team-a/llama-2"},
                                  {"team-a/llama-1"},
                                  {p},
                                  "team-a/llama-0",
                                  ""};
  return {"team-a/llama", {d}};
}

template <>
gateway::upstream_event sample() {
  return {3, 0, "text/event-stream", "connection reset", true};
}

template <>
actors::node_mocker::pod_template sample() {
  return {"team-a/llama-3",
          "team-a",
          "llama",
          "llama-3.1-8b-instruct",
          "llama-3.1-8b-instruct",
          "Standard_NC24ads_A100_v4",
          1,
          20'000'000'000,
          4'000'000'000,
          {{"app", "llama"}},
          {{"kaito.sh/latency-profile", "8b-h100"}},
          {{"max-num-seqs", "64"}},
          99,
          true};
}
template <>
actors::node_mocker::delete_pod sample() {
  return {"team-a/llama-3", "scaled down to 2"};
}
template <>
actors::node_mocker::pod_event sample() {
  return {"team-a/llama-3",
          "team-a",
          "llama",
          3,
          "gpu-0",
          "model loaded",
          "zmq:tcp://127.0.0.1:7401#pod",
          "127.0.0.1:7400",
          {{"app", "llama"}},
          12345,
          "tcp://127.0.0.1:7402",
          "tcp://127.0.0.1:7403",
          "tcp://127.0.0.1:7404"};
}
template <>
actors::node_mocker::node_info sample() {
  return {"a100-0", "a100",    "Standard_NC24ads_A100_v4", 1, 1,
          true,     {"llama"}, {"team-a/llama-3"},         7, {{"sku", "gpu"}}};
}
template <>
actors::node_mocker::pod_info sample() {
  return {
      "team-a/llama-3", "team-a", "llama", "llama-3.1-8b-instruct", 2, "a100-0", "", 1, 5, 6, true};
}
template <>
actors::node_mocker::cluster_query sample() {
  return {};
}
template <>
actors::node_mocker::cluster_snapshot sample() {
  return {
      {sample<actors::node_mocker::node_info>()}, {sample<actors::node_mocker::pod_info>()}, 2, 99};
}
template <>
actors::node_mocker::pod_exited sample() {
  return {"team-a/llama-3", "signal 9"};
}
template <>
actors::node_mocker::lose_node sample() {
  return {"a100-2", "fault at 90 s"};
}
template <>
actors::node_mocker::node_command sample() {
  return {"reclaim", "a100-2", 30'000'000'000, "spot capacity"};
}
template <>
actors::node_mocker::node_command_result sample() {
  return {true, "", {"team-a/llama-3"}, 42};
}
template <>
actors::node_mocker::node_reclaimed sample() {
  return {"a100-2"};
}
template <>
actors::node_mocker::reclaim_due sample() {
  return {"spot-1"};
}
template <>
actors::node_mocker::pod_loaded sample() {
  return {"team-a/llama-3", 2};
}
template <>
actors::node_mocker::node_provisioned sample() {
  return {"a100"};
}
template <>
actors::controller::scale_set sample() {
  return {"team-a", "llama", 4, "value 35 vs target 10 per pod", "scaler"};
}
template <>
actors::controller::scale_result sample() {
  return {true, 2, 4, ""};
}
template <>
actors::controller::set_status sample() {
  return {"team-a", "llama", 4, 3, 2, 1, {"team-a/llama-0", "team-a/llama-1"}, "scaler", 11, 3, 8};
}
template <>
actors::controller::set_status_query sample() {
  return {};
}
template <>
actors::controller::set_status_list sample() {
  return {{sample<actors::controller::set_status>()}};
}
template <>
actors::controller::reconcile_now sample() {
  return {"team-a", "llama"};
}
template <>
actors::scaler::activate_pool sample() {
  return {"team-a", "llama"};
}
template <>
actors::scaler::activation sample() {
  return {true, "starting a pod of llama"};
}
template <>
actors::scaler::scaler_tick sample() {
  return {3, 2};
}
template <>
actors::scaler::pod_loads_query sample() {
  return {};
}
template <>
actors::scaler::pod_loads sample() {
  return {{sample<actors::pod::load_report>()}};
}

template <class T>
void check_round_trip(uint16_t kind) {
  T original = sample<T>();
  auto encoded = codec.encode(caf::make_message(original));
  REQUIRE(encoded.has_value());
  CHECK(encoded->kind == kind);
  CHECK(encoded->kind == static_cast<uint16_t>(protocol::kind_of<T>::value));
  std::string error;
  auto decoded = codec.decode(encoded->kind, encoded->bytes, &error);
  INFO(error);
  REQUIRE(decoded.has_value());
  REQUIRE(decoded->template match_elements<T>());
  CHECK(decoded->template get_as<T>(0) == original);
  // Truncated payloads are refused, never crash.
  if (encoded->bytes.size() > 1) {
    auto truncated = encoded->bytes.substr(0, encoded->bytes.size() - 1);
    CHECK_FALSE(codec.decode(encoded->kind, truncated).has_value());
  }
}

}  // namespace

TEST_CASE("every catalogue message round-trips through its msgpack encoding") {
  std::set<uint16_t> tested;
#define INFERSTACK_ROUND_TRIP(number, space, name)     \
  SECTION(#name) {                                     \
    check_round_trip<inferstack::space::name>(number); \
  }                                                    \
  tested.insert(number);
  INFERSTACK_WIRE_MESSAGES(INFERSTACK_ROUND_TRIP)
#undef INFERSTACK_ROUND_TRIP
  auto kinds = protocol::all_kinds();
  CHECK(std::set<uint16_t>(kinds.begin(), kinds.end()) == tested);
}

TEST_CASE("messages outside the catalogue are not encodable") {
  CHECK_FALSE(codec.encode(caf::make_message(std::string("plain string"))).has_value());
  CHECK_FALSE(
      codec.encode(caf::make_message(actors::probe::probe_ping{}, actors::probe::probe_ping{}))
          .has_value());
  auto empty = codec.encode(caf::message{});
  REQUIRE(empty.has_value());
  CHECK(empty->kind == 0);
}

TEST_CASE("decoding checks kind and shape") {
  std::string error;
  CHECK_FALSE(codec.decode(60000, "\x80", &error).has_value());
  CHECK(error.find("unknown message kind") != std::string::npos);
  // a probe_ping whose seq is a string
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk(buf);
  pk.pack_map(1);
  pk.pack(std::string("seq"));
  pk.pack(std::string("not a number"));
  CHECK_FALSE(codec
                  .decode(static_cast<uint16_t>(protocol::message_kind::probe_ping),
                          std::string_view(buf.data(), buf.size()), &error)
                  .has_value());
  CHECK(error.find("probe_ping") != std::string::npos);
}

TEST_CASE("wire errors carry category, code and context") {
  auto err = caf::make_error(runtime::transport_errc::unknown_actor, "no actor named x");
  auto flat = wire::to_wire_error(err);
  CHECK(flat.category == "transport");
  CHECK(flat.code == static_cast<uint8_t>(runtime::transport_errc::unknown_actor));
  auto back = wire::from_wire_error(flat);
  CHECK(back.category() == caf::atom("transport"));
  CHECK(back.code() == flat.code);
  auto decoded = wire::decode_wire_error(wire::encode_wire_error(flat));
  REQUIRE(decoded.has_value());
  CHECK(*decoded == flat);
  std::string why;
  CHECK_FALSE(wire::decode_wire_error("\x81\xa3seq", &why).has_value());
  CHECK(why.find("wire_error") != std::string::npos);
}
