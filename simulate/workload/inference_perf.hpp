// inference-perf (kubernetes-sigs/inference-perf) config files, unchanged, as workloads: the
// requests its load generator would send, each stamped with its arrival in virtual time.
//
// Read: load (type constant | poisson, stages of rate and duration, interval between stages),
// data (type shared_prefix | random | synthetic, with their token-length settings), api (type
// completion | chat, streaming), server.ignore_eos (default true, as in inference-perf).
// Accepted and ignored, as they only matter to a real run: the sections tokenizer, report,
// metrics, storage and circuit_breakers; server.type, model_name, base_url, api_key, cert_path,
// key_path (requests keep the scenario's default model: a benchmark's model_name is often a
// placeholder); load.num_workers, worker_max_concurrency, worker_max_tcp_connections,
// request_timeout, base_seed (the seed argument decides); api.headers and the slo_* fields;
// data.path and corpus_file_path; shared_prefix.seed.
// Refused with a workload_error: any other key; what simulate cannot model yet (load types
// concurrent / trace_replay / trace_session_replay, load.sweep, load.lora_traffic_split, data
// types other than the three, multi-turn chat, multimodal, traces).
//
// As inference-perf does:
// - a stage sends int(rate * duration) requests, for poisson too; stage k + 1 starts `interval`
//   (default 1 s) after stage k's duration or its last arrival, whichever is later (the real
//   run also waits for stage k's requests to finish, which only the simulation knows);
// - constant: evenly spaced, the last at the stage's end; poisson: exponential gaps at rate
//   (inference-perf draws a Poisson count per second and spreads it; same process);
// - one request stream across all stages: request i takes prompt i mod (groups x prompts),
//   prompts ordered group by group (so consecutive requests share a group); random and
//   synthetic draw total_count lengths up front and request i takes length i mod total_count;
// - lengths: normal (default; clamped to min..max, rounded), uniform or fixed distributions;
//   shared_prefix lengths are an integer or an inline distribution (system_prompt_len per
//   group, question_len and output_len per prompt; question_distribution and
//   output_distribution, the legacy spellings, too).
// Random numbers come from std::mt19937_64 seeded with `seed`, turned into uniform, exponential
// and normal numbers here: the standard library's distributions differ between
// implementations, and the same file and seed must give the same requests everywhere.
#pragma once

#include <cstdint>
#include <string>

#include "simulate/workload/workload.hpp"

namespace inferstack::simulate {

/// Reads an inference-perf config file. Throws workload_error naming the file, the line and
/// the field (e.g. "load.stages[1].rate") of the first problem.
workload load_inference_perf(const std::string& path, uint64_t seed);

/// The same for a config already in memory; `file` only names it in errors.
workload load_inference_perf_text(const std::string& text, const std::string& file, uint64_t seed);

}  // namespace inferstack::simulate
