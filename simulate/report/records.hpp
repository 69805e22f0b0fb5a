// What a simulation records, per request and per second: the report (table, summary.json,
// requests.csv, timeseries.csv) and the plots are all made from these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inferstack::simulate {

/// One request as its virtual client saw it. Times are nanoseconds since the workload's start;
/// -1: did not happen (no first token: an error, or a response that was not streamed).
struct request_record {
  uint64_t index = 0;  ///< position in the workload
  int64_t arrival_ns = 0;
  std::string pool;  ///< "<ns>/<pool>" the request's model routes to ("" when not routed)
  std::string pod;   ///< the pod that answered (x-inference-pod), "" when none did
  int status = 0;    ///< HTTP status; 0: no answer before the simulation ended
  std::string
      outcome;  ///< ok | the error class (rate_limited, not_found, unavailable, timeout, ...)
  int64_t ttft_ns = -1;  ///< first token (streamed requests)
  int64_t itl_ns = -1;   ///< mean gap between the tokens after the first (streamed, >= 2 tokens)
  int64_t e2e_ns = -1;   ///< last byte
  uint32_t prompt_tokens = 0;
  uint32_t cached_tokens = 0;  ///< prompt tokens found in the pod's prefix cache
  uint32_t output_tokens = 0;
};

/// One pool's state over one second of virtual time.
struct series_row {
  int64_t second = 0;  ///< since the workload's start
  std::string pool;
  uint32_t arrivals = 0;     ///< requests that arrived in this second
  uint32_t completions = 0;  ///< requests that ended (any outcome) in this second
  uint32_t errors = 0;       ///< ... of them not ok
  uint32_t queue = 0;        ///< requests waiting in the pool's pods at the second's end
  uint32_t running = 0;      ///< requests running in the pool's pods at the second's end
  double kv_usage = 0;       ///< mean KV-cache usage of the pool's Ready pods (0..1)
  double hit_rate = -1;      ///< cached / prompt tokens of the requests ended in it; -1: none
  double ttft_p90_ms = -1;   ///< TTFT p90 of requests first answered in the last 10 s; -1: none
  uint32_t ready_replicas = 0;
  uint32_t replicas = 0;  ///< pods holding GPUs (loading or ready)
  uint32_t gpus = 0;      ///< GPUs those pods hold
};

/// One variant's run: its label (the --vary value, or "run"), its requests and its series.
struct variant_run {
  std::string label;
  std::vector<request_record> requests;  ///< in workload order
  std::vector<series_row> series;        ///< by second, then pool
};

}  // namespace inferstack::simulate
