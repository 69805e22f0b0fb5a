// A pod's settings read as llm-d-inference-sim reads its flags (pkg/common/config.go at eec055a):
// the simulator's defaults for a standalone pod without a profile, inferstack's otherwise; list
// and bool forms; every simulator flag either implemented, accepted-and-ignored as the simulator
// does, or refused with an error that names it.
#include <catch2/catch.hpp>

#include "actors/pod/pod_settings.hpp"

using namespace inferstack::actors::pod;

namespace {

constexpr const char* profiles = INFERSTACK_SOURCE_DIR "/config/profiles";

/// Settings from options, as `inferstack run pod` (standalone) or a preset (not) reads them.
pod_settings read(std::map<std::string, std::string> options, bool standalone = true,
                  int64_t now_ns = 42) {
  pod_settings s;
  s.simulator_defaults = standalone;
  options.emplace("model", "m");
  auto problems = apply_pod_options(s, options, profiles);
  for (auto& p : finish_pod_settings(s, now_ns))
    problems.push_back(p);
  for (auto& p : problems)
    FAIL(p);
  return s;
}

/// The problems reading `options` reports (set and finish).
std::vector<std::string> problems_of(std::map<std::string, std::string> options) {
  pod_settings s;
  s.simulator_defaults = true;
  options.emplace("model", "m");
  auto problems = apply_pod_options(s, options, profiles);
  for (auto& p : finish_pod_settings(s, 42))
    problems.push_back(p);
  return problems;
}

std::string first_problem(std::map<std::string, std::string> options) {
  auto p = problems_of(std::move(options));
  return p.empty() ? std::string() : p.front();
}

}  // namespace

TEST_CASE("pod settings: a standalone pod without a profile takes the simulator's defaults") {
  auto s = read({}, true, 1234567);
  // newConfig() in config.go
  CHECK(s.engine.max_num_seqs == 5);
  CHECK(s.engine.max_model_len == 1024);
  CHECK(s.engine.kv.num_gpu_blocks == 1024);
  CHECK(s.seed == 1234567);  // time.Now().UnixNano() when --seed is not given
  CHECK_FALSE(s.kv_events);  // enable-kvcache defaults to false
  CHECK(s.zmq_endpoint == "tcp://127.0.0.1:5557");
  CHECK(s.replay_buffer == 1024);
  CHECK_FALSE(s.log_http);
  // the same as inferstack's already
  CHECK(s.port == 8000);
  CHECK(s.engine.max_waiting == 1000);
  CHECK(s.engine.max_loras == 1);
  CHECK(s.max_cpu_loras == 1);  // max-loras when not given
  CHECK(s.engine.kv.block_size == 16);
  CHECK(s.event_batch_size == 16);
  CHECK(s.mode == "random");
  CHECK(s.max_request_body_mb == 4);
  CHECK(s.default_embedding_dimensions == 384);
  CHECK(s.data_parallel_rank == -1);
  CHECK(s.failure_injection_rate == 0);
  CHECK(s.sim.time_factor_under_load == 1.0);
  CHECK(s.global_cache_hit_threshold == 0);
  CHECK(s.served_model_names == std::vector<std::string>{"m"});
  CHECK(s.tool_calls.max_integer_param == 100);
  CHECK(s.tool_calls.min_integer_param == 0);
  CHECK(s.tool_calls.max_number_param == 100);
  CHECK(s.tool_calls.min_number_param == 0);
  CHECK(s.tool_calls.max_array_param_length == 5);
  CHECK(s.tool_calls.min_array_param_length == 1);
  CHECK(s.tool_calls.not_required_param_probability == 50);
  CHECK(s.tool_calls.object_not_required_field_probability == 50);
  CHECK(s.tool_calls.extra_call_probability == 45);
  CHECK_FALSE(s.tool_calls.skip_validation);
  CHECK(s.engine.seed == s.seed);
  CHECK_FALSE(s.engine.kv.enable_events);
}

TEST_CASE("pod settings: with a latency profile, or not standalone, inferstack's defaults stay") {
  auto check_inferstack = [](const pod_settings& s) {
    CHECK(s.engine.max_num_seqs == 256);
    CHECK(s.engine.max_model_len == 8192);
    CHECK(s.engine.kv.num_gpu_blocks == 8192);
    CHECK(s.seed == 0);
    CHECK(s.kv_events);
    CHECK(s.zmq_endpoint.empty());
    CHECK(s.replay_buffer == 10000);
    CHECK(s.log_http);
  };
  SECTION("--profile") {
    check_inferstack(read({{"profile", "llama-3-8b-a100"}}));
  }
  SECTION("--kaito-profile") {
    check_inferstack(read({{"kaito-profile", "8b-h100"}}));
  }
  SECTION("a pod of the stack") {
    check_inferstack(read({}, false));
  }
}

TEST_CASE("pod settings: a value given explicitly wins over the simulator's defaults") {
  auto s = read({{"max-num-seqs", "7"},
                 {"max-model-len", "2048"},
                 {"kv-cache-size", "300"},
                 {"seed", "9"},
                 {"enable-kvcache", ""},
                 {"zmq-endpoint", "tcp://127.0.0.1:7777"},
                 {"log-http", "true"}});
  CHECK(s.engine.max_num_seqs == 7);
  CHECK(s.engine.max_model_len == 2048);
  CHECK(s.engine.kv.num_gpu_blocks == 300);
  CHECK(s.seed == 9);
  CHECK(s.kv_events);
  CHECK(s.zmq_endpoint == "tcp://127.0.0.1:7777");
  CHECK(s.log_http);
  // num-gpu-blocks is kv-cache-size's other name
  CHECK(read({{"num-gpu-blocks", "77"}}).engine.kv.num_gpu_blocks == 77);
  // a negative seed is an int64 as in the simulator
  CHECK(read({{"seed", "-1"}}).seed == static_cast<uint64_t>(int64_t{-1}));
  // and a uint64 above int64's range, as the control plane hands its pods
  CHECK(read({{"seed", "18446744073709551615"}}).seed == UINT64_MAX);
}

TEST_CASE("pod settings: list options take items separated by spaces or commas") {
  CHECK(read({{"served-model-name", "a b"}}).served_model_names ==
        std::vector<std::string>{"a", "b"});
  CHECK(read({{"served-model-name", "a,b c"}}).served_model_names ==
        std::vector<std::string>{"a", "b", "c"});
  CHECK(read({{"served-model-name", ""}}).served_model_names == std::vector<std::string>{"m"});
  auto s = read(
      {{"lora-modules", R"({"name": "l1", "path": "/a b"} {"name":"l2","base_model_name":"m"})"}});
  REQUIRE(s.lora_modules.size() == 2);
  CHECK(s.lora_modules[0].name == "l1");
  CHECK(s.lora_modules[0].path == "/a b");
  CHECK(s.lora_modules[1].base_model == "m");
  CHECK(read({{"failure-types", "rate_limit server_error"}}).failure_types ==
        std::vector<std::string>{"rate_limit", "server_error"});

  // the last setting replaces the list (a flag replaces the config file's)
  pod_settings t;
  CHECK_FALSE(set_pod_option(t, "lora-modules", R"({"name":"old"})"));
  CHECK_FALSE(set_pod_option(t, "lora-modules", R"({"name":"new"})"));
  REQUIRE(t.lora_modules.size() == 1);
  CHECK(t.lora_modules[0].name == "new");
}

TEST_CASE("pod settings: bool options read Go's forms, a bare flag means true") {
  for (const char* yes : {"", "true", "1", "t", "T", "TRUE", "True"}) {
    pod_settings s;
    CHECK_FALSE(set_pod_option(s, "enable-request-id-headers", yes));
    CHECK(s.enable_request_id_headers);
  }
  for (const char* no : {"false", "0", "f", "F", "FALSE", "False"}) {
    pod_settings s;
    s.enable_request_id_headers = true;
    CHECK_FALSE(set_pod_option(s, "enable-request-id-headers", no));
    CHECK_FALSE(s.enable_request_id_headers);
  }
  pod_settings s;
  auto err = set_pod_option(s, "enable-kvcache", "maybe");
  REQUIRE(err);
  CHECK(err->find("--enable-kvcache") != std::string::npos);
}

TEST_CASE("pod settings: the simulator's checks, each naming its flag") {
  CHECK(first_problem({{"max-loras", "3"}, {"max-cpu-loras", "2"}}).find("--max-cpu-loras") == 0);
  CHECK(problems_of({{"max-loras", "3"}, {"max-cpu-loras", "3"}}).empty());
  CHECK(first_problem({{"min-tool-call-integer-param", "10"}, {"max-tool-call-integer-param", "5"}})
            .find("--max-tool-call-integer-param") == 0);
  CHECK(first_problem({{"min-tool-call-number-param", "1.5"}, {"max-tool-call-number-param", "1"}})
            .find("--max-tool-call-number-param") == 0);
  CHECK(first_problem({{"min-tool-call-array-param-length", "-1"}})
            .find("--min-tool-call-array-param-length") == 0);
  for (const char* key : {"tool-call-not-required-param-probability",
                          "object-tool-call-not-required-field-probability",
                          "tool-call-extra-call-probability", "failure-injection-rate"}) {
    CAPTURE(key);
    CHECK(first_problem({{key, "101"}}).find(std::string("--") + key) == 0);
    CHECK(problems_of({{key, "100"}}).empty());
  }
  CHECK(
      first_problem({{"global-cache-hit-threshold", "1.5"}}).find("--global-cache-hit-threshold") ==
      0);
  CHECK(read({{"global-cache-hit-threshold", "0.25"}}).global_cache_hit_threshold == 0.25);
  CHECK(first_problem({{"max-request-body-size-mb", "513"}}).find("--max-request-body-size-mb") ==
        0);
  CHECK(first_problem({{"lora-modules", R"({"name":"l","base_model_name":"other"})"}})
            .find("unknown base model 'other'") != std::string::npos);
  CHECK(first_problem({{"block-size", "24"}}).find("--block-size") == 0);
  auto tools = read({{"max-tool-call-integer-param", "7"},
                     {"min-tool-call-integer-param", "-3"},
                     {"skip-tool-validation", ""},
                     {"tool-call-extra-call-probability", "0"}})
                   .tool_calls;
  CHECK(tools.max_integer_param == 7);
  CHECK(tools.min_integer_param == -3);
  CHECK(tools.skip_validation);
  CHECK(tools.extra_call_probability == 0);
}

TEST_CASE("pod settings: data parallelism, a rank per process or the size's ranks") {
  CHECK(problems_of({{"data-parallel-size", "8"}}).empty());
  CHECK(read({{"data-parallel-size", "3"}}).data_parallel_size == 3);
  CHECK(first_problem({{"data-parallel-size", "9"}}).find("--data-parallel-size") == 0);
  CHECK(first_problem({{"data-parallel-rank", "8"}}).find("--data-parallel-rank") == 0);
  // with a rank the size is ignored and the KV-event ports move by the rank
  auto s = read({{"data-parallel-size", "4"},
                 {"data-parallel-rank", "2"},
                 {"zmq-endpoint", "tcp://127.0.0.1:5557"},
                 {"kv-events-replay-endpoint", "tcp://*:5600"}});
  CHECK(s.data_parallel_rank == 2);
  CHECK(s.zmq_endpoint == "tcp://127.0.0.1:5559");
  CHECK(s.replay_endpoint == "tcp://*:5602");
  CHECK(read({{"data-parallel-rank", "-1"}}).data_parallel_rank == -1);
  // --data-parallel-size 3: rank 2 serves port+2, publishes on the endpoints moved by 2, and
  // names its own port in the KV-event topic
  auto base = read({{"data-parallel-size", "3"},
                    {"port", "8000"},
                    {"zmq-endpoint", "tcp://localhost:5557"},
                    {"kv-events-replay-endpoint", "tcp://*:5600"},
                    {"pod-address", "10.0.0.1:8000"}});
  auto r0 = rank_settings(base, 0), r2 = rank_settings(base, 2);
  CHECK(r0.port == 8000);
  CHECK(r0.data_parallel_rank == 0);
  CHECK(r0.zmq_endpoint == "tcp://localhost:5557");
  CHECK(r2.port == 8002);
  CHECK(r2.data_parallel_rank == 2);
  CHECK(r2.zmq_endpoint == "tcp://localhost:5559");
  CHECK(r2.replay_endpoint == "tcp://*:5602");
  CHECK(r2.address == "10.0.0.1:8002");
}

TEST_CASE("pod settings: HTTPS from certificate files or a self-signed certificate") {
  auto files = read({{"ssl-certfile", "/c.pem"}, {"ssl-keyfile", "/k.pem"}});
  CHECK(files.ssl_certfile == "/c.pem");
  CHECK(files.ssl_keyfile == "/k.pem");
  CHECK_FALSE(files.self_signed_certs);
  CHECK(read({{"self-signed-certs", ""}}).self_signed_certs);
  CHECK(read({}).ssl_certfile.empty());
  // the simulator's checks: the pair together, and not with self-signed certificates
  CHECK(first_problem({{"ssl-certfile", "/c.pem"}}) ==
        "--ssl-certfile: both ssl-certfile and ssl-keyfile must be provided together");
  CHECK(first_problem({{"ssl-keyfile", "/k.pem"}}).find("--ssl-certfile: both") == 0);
  CHECK(
      first_problem(
          {{"self-signed-certs", "true"}, {"ssl-certfile", "/c.pem"}, {"ssl-keyfile", "/k.pem"}}) ==
      "--self-signed-certs: cannot use both self-signed-certs and explicit "
      "ssl-certfile/ssl-keyfile");
  CHECK(first_problem({{"self-signed-certs", "maybe"}}).find("--self-signed-certs") == 0);
}

TEST_CASE("pod settings: omni mode and its image settings, checked as the simulator does") {
  auto s = read({{"omni", ""},
                 {"image-emission-rate", "25"},
                 {"time-to-generate-image", "500ms"},
                 {"time-to-generate-image-std-dev", "100ms"}});
  CHECK(s.omni);
  CHECK(s.image_emission_rate == 25);
  CHECK(s.time_to_generate_image_ns == 500'000'000);
  CHECK(s.time_to_generate_image_std_dev_ns == 100'000'000);
  pod_settings off;  // --omni then --no-omni, in that order
  CHECK_FALSE(set_pod_option(off, "omni", "true"));
  CHECK_FALSE(set_pod_option(off, "no-omni", ""));
  CHECK_FALSE(off.omni);
  CHECK_FALSE(read({}).omni);
  CHECK(first_problem({{"image-emission-rate", "101"}}) ==
        "--image-emission-rate: image emission rate should be between 0 and 100");
  CHECK(first_problem({{"image-emission-rate", "-1"}}).find("--image-emission-rate") == 0);
  CHECK(first_problem(
            {{"time-to-generate-image", "100ms"}, {"time-to-generate-image-std-dev", "31ms"}}) ==
        "--time-to-generate-image-std-dev: time to generate image standard deviation cannot be "
        "more than 30% of time to generate image");
  CHECK(
      problems_of({{"time-to-generate-image", "100ms"}, {"time-to-generate-image-std-dev", "30ms"}})
          .empty());
}

TEST_CASE("pod settings: encoder-only multimodal serving, without a KV cache") {
  auto s = read({{"mm-encoder-only", ""}, {"enable-kvcache", "true"}});
  CHECK(s.mm_encoder_only);
  CHECK_FALSE(s.kv_events);  // the simulator starts no KV cache in this mode
  CHECK_FALSE(s.engine.kv.enable_events);
  pod_settings off;  // --mm-encoder-only then --no-mm-encoder-only
  CHECK_FALSE(set_pod_option(off, "mm-encoder-only", "true"));
  CHECK_FALSE(set_pod_option(off, "no-mm-encoder-only", ""));
  CHECK_FALSE(off.mm_encoder_only);
  CHECK_FALSE(read({}).mm_encoder_only);
  CHECK(first_problem({{"mm-encoder-only", "perhaps"}}).find("--mm-encoder-only") == 0);
}

TEST_CASE("pod settings: flags inferstack does not implement are refused with the reason") {
  struct refusal {
    const char* key;
    const char* value;
    const char* reason;
  };
  for (auto [key, value, reason] : {
           refusal{"dataset-path", "/d.sqlite3", "datasets are not supported"},
           refusal{"dataset-url", "https://example.invalid/d", "datasets are not supported"},
           refusal{"dataset-in-memory", "", "datasets are not supported"},
           refusal{"dataset-table-name", "other", "datasets are not supported"},
           refusal{"render-url", "http://127.0.0.1:9", "tokenizes locally"},
           refusal{"render-timeout", "5s", "tokenizes locally"},
           refusal{"mm-render-timeout", "5s", "tokenizes locally"},
       }) {
    CAPTURE(key);
    pod_settings s;
    auto err = set_pod_option(s, key, value);
    REQUIRE(err);
    CHECK(err->find(std::string("--") + key + ": ") == 0);
    CHECK(err->find(reason) != std::string::npos);
  }
  // the simulator's default values ask for nothing: a config file may spell them out
  for (auto [key, value] :
       std::vector<std::pair<const char*, const char*>>{{"ssl-certfile", ""},
                                                        {"self-signed-certs", "false"},
                                                        {"omni", "false"},
                                                        {"no-omni", ""},
                                                        {"image-emission-rate", "0"},
                                                        {"time-to-generate-image", "0s"},
                                                        {"dataset-table-name", "llmd"},
                                                        {"dataset-in-memory", "false"},
                                                        {"render-url", "http://localhost:8082"},
                                                        {"render-timeout", "30s"}}) {
    CAPTURE(key);
    pod_settings s;
    CHECK_FALSE(set_pod_option(s, key, value));
  }
  pod_settings s;
  auto err = set_pod_option(s, "no-such-flag", "1");
  REQUIRE(err);
  CHECK(err->find("--no-such-flag: unknown option") == 0);
}

TEST_CASE("pod settings: every key of the simulator's config file is known") {
  // The yaml keys of Configuration in pkg/common/config.go (eec055a), with a value each.
  const std::vector<std::pair<const char*, const char*>> keys{
      {"port", "8001"},
      {"model", "m"},
      {"served-model-name", "a"},
      {"max-loras", "2"},
      {"max-cpu-loras", "2"},
      {"max-num-seqs", "4"},
      {"max-waiting-queue-length", "10"},
      {"max-model-len", "512"},
      {"lora-modules", R"({"name":"l"})"},
      {"time-to-first-token", "10ms"},
      {"time-to-first-token-std-dev", "1ms"},
      {"inter-token-latency", "10ms"},
      {"inter-token-latency-std-dev", "1ms"},
      {"kv-cache-transfer-latency", "10ms"},
      {"kv-cache-transfer-latency-std-dev", "1ms"},
      {"prefill-overhead", "1ms"},
      {"prefill-time-per-token", "1ms"},
      {"prefill-time-std-dev", "1ms"},
      {"kv-cache-transfer-time-per-token", "1ms"},
      {"kv-cache-transfer-time-std-dev", "1ms"},
      {"time-to-generate-image", "1s"},
      {"time-to-generate-image-std-dev", "1ms"},
      {"time-factor-under-load", "2"},
      {"mode", "echo"},
      {"seed", "5"},
      {"max-tool-call-integer-param", "10"},
      {"min-tool-call-integer-param", "1"},
      {"max-tool-call-number-param", "10"},
      {"min-tool-call-number-param", "1"},
      {"max-tool-call-array-param-length", "3"},
      {"min-tool-call-array-param-length", "1"},
      {"tool-call-not-required-param-probability", "10"},
      {"object-tool-call-not-required-field-probability", "10"},
      {"skip-tool-validation", "true"},
      {"tool-call-extra-call-probability", "10"},
      {"enable-kvcache", "true"},
      {"kv-cache-size", "100"},
      {"global-cache-hit-threshold", "0.5"},
      {"block-size", "32"},
      {"hash-seed", "7"},
      {"zmq-endpoint", "tcp://127.0.0.1:5557"},
      {"kv-events-replay-endpoint", "tcp://127.0.0.1:5558"},
      {"kv-events-replay-queue-size", "10"},
      {"event-batch-size", "4"},
      {"use-vllm-map-event-format", "true"},
      {"fake-metrics", "{}"},
      {"fake-metrics-refresh-interval", "1s"},
      {"failure-injection-rate", "10"},
      {"failure-types", "rate_limit"},
      {"data-parallel-size", "1"},
      {"data-parallel-rank", "0"},
      {"ssl-certfile", "/c"},
      {"ssl-keyfile", "/k"},
      {"self-signed-certs", "true"},
      {"dataset-path", "/d"},
      {"dataset-url", "https://example.invalid/d"},
      {"dataset-in-memory", "true"},
      {"dataset-table-name", "t"},
      {"render-url", "http://127.0.0.1:1"},
      {"render-timeout", "1s"},
      {"mm-render-timeout", "1s"},
      {"force-dummy-tokenizer", "true"},
      {"startup-duration", "1s"},
      {"enable-sleep-mode", "true"},
      {"enable-request-id-headers", "true"},
      {"log-http", "true"},
      {"latency-calculator", "constant"},
      {"default-embedding-dimensions", "8"},
      {"mm-encoder-only", "true"},
      {"omni", "true"},
      {"image-emission-rate", "10"},
      // accepted and ignored, as by the simulator
      {"mm-processor-kwargs", "{}"},
      {"ec-transfer-config", "{}"},
      {"enforce-eager", "true"},
      {"enable-prefix-caching", "true"},
      {"tensor-parallel-size", "2"},
      {"max-request-body-size-mb", "8"},
  };
  auto names = pod_option_names();
  for (auto [key, value] : keys) {
    CAPTURE(key, value);
    CHECK(std::find(names.begin(), names.end(), key) != names.end());  // a --flag of run pod
    pod_settings s;
    auto err = set_pod_option(s, key, value, profiles);
    if (err) CHECK(err->find("unknown option") == std::string::npos);
  }
}

TEST_CASE("pod settings: a simulator pod honours X-Return-Error unless told not to") {
  CHECK(read({}, true).enable_return_error_header);
  CHECK_FALSE(read({{"enable-return-error-header", "false"}}, true).enable_return_error_header);
  CHECK_FALSE(read({}, false).enable_return_error_header);  // inferstack's pods: the operator's
}

TEST_CASE("pod settings: --fake-metrics is read and checked as the simulator checks it") {
  auto s = read({{"fake-metrics", R"({"running-requests":3,"kv-cache-usage":"ramp:0:1:2s"})"},
                 {"fake-metrics-refresh-interval", "250ms"}});
  REQUIRE(s.fake);
  REQUIRE(s.fake->running_requests);
  CHECK(s.fake->running_requests->fixed == 3);
  REQUIRE(s.fake->kv_cache_usage);
  REQUIRE(s.fake->kv_cache_usage->function);
  CHECK(s.fake->kv_cache_usage->function->period_ns == 2'000'000'000);
  CHECK(s.fake_metrics_refresh_ns == 250'000'000);
  CHECK_FALSE(read({}).fake);  // none given: the real state

  auto p = problems_of({{"fake-metrics", R"({"kv-cache-usage":1.5})"}});
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("--fake-metrics: kv-cache-usage: ") == 0);
  p = problems_of({{"fake-metrics", R"({"running-requests":[1]})"}});
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("--fake-metrics: running-requests: ") == 0);
  p = problems_of({{"fake-metrics", "{}"}, {"fake-metrics-refresh-interval", "0s"}});
  REQUIRE(p.size() == 1);
  CHECK(p[0].find("--fake-metrics-refresh-interval: must be positive") == 0);
}
