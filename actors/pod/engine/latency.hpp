// How long a simulated vLLM engine takes. Two families of models:
//  - the step model (step_profile): the cost of one continuous-batching engine step from what the
//    step computes (prefill tokens, decoding sequences, KV tokens attended). Realistic: TTFT and
//    ITL emerge from batching, queueing and chunked prefill;
//  - llm-d-inference-sim's calculators (sim_latency): a TTFT and then one ITL per token for each
//    request on its own, stretched by a load factor. Replicated quirks included, so that numbers
//    configured for the simulator mean the same here.
// Both sit behind latency_model, which the engine calls. Nothing here reads a clock: times are
// int64 nanoseconds and randomness comes from a caller's seeded std::mt19937_64.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/config/yaml_fields.hpp"

namespace inferstack::actors::pod::engine {

/// A standard normal variate. Marsaglia's polar method over the raw 64-bit output, so a seed
/// gives the same numbers with every standard library (std::normal_distribution does not).
double standard_normal(std::mt19937_64& rng);

// ------------------------------------------------------------------------------------------------
// Step model
// ------------------------------------------------------------------------------------------------

/// What one engine step computes.
struct batch_stats {
  uint32_t prefill_tokens = 0;  ///< prompt (or recomputed) tokens computed this step
  uint32_t prefill_seqs = 0;    ///< sequences with prefill work this step
  uint32_t decode_seqs = 0;     ///< sequences decoding one token
  uint64_t kv_tokens = 0;       ///< sum of the batch's context lengths (after this step)
  /// Causal attention pairs the prefill work computes: for a sequence computing n new tokens
  /// after c already computed (a cached prefix or an earlier chunk), n*c + n*(n+1)/2.
  uint64_t prefill_pairs = 0;

  uint32_t num_seqs() const { return prefill_seqs + decode_seqs; }
  bool empty() const { return num_seqs() == 0; }
};

/// One point of a step's cost as a function of its (padded) token count.
struct token_cost_knot {
  uint32_t tokens = 0;
  double ns = 0;
};

/// A piecewise-linear table at `tokens`: linear between points, held at the first point's value
/// below it, extended along the last segment beyond the last; never below 0. 0 when empty.
double interpolate(const std::vector<token_cost_knot>& table, uint64_t tokens);

/// Where a step's mean duration goes (nanoseconds, before jitter).
struct step_cost_breakdown {
  double fixed = 0;              ///< stepOverhead, and prefillOverhead on prefill steps
  double per_sequence = 0;       ///< prefillPerToken, decodePerSequence and perSequence terms
  double token_cost = 0;         ///< tokenCost(padded tokens): the token-wise layers
  double all_reduce = 0;         ///< tensor parallelism's all-reduces
  double kv_read = 0;            ///< attentionPerKvToken * KV tokens attended
  double prefill_attention = 0;  ///< prefillAttentionPerPair * causal pairs

  double total() const {
    return fixed + per_sequence + token_cost + all_reduce + kv_read + prefill_attention;
  }
};

/// Cost model of one continuous-batching step, in nanoseconds:
///     stepOverhead + [prefillOverhead if any prefill] + prefillPerToken * prefill tokens
///   + decodePerSequence * decoding sequences + perSequence * all sequences
///   + tokenCost(T)                                   (piecewise linear in T, see below)
///   + allReduces * max(allReduceFloor, allReduceBase + allReducePerToken * T)
///   + attentionPerKvToken * KV tokens attended + prefillAttentionPerPair * causal pairs,
/// where T is the step's token count (prefill tokens + decoding sequences) rounded up to a
/// multiple of tokenGranularity, as the engine pads its batches. The whole is multiplied by
/// (1 + jitter * z), z ~ N(0,1) clamped to [-3, 3], and never below 0.
/// Hand-written profiles use the first five terms; fitted ones (inferstack profile fit) the
/// token-cost table, the all-reduces and the attention terms. Absent terms cost nothing.
struct step_profile {
  std::string name;
  int64_t step_overhead_ns = 0;          ///< every step (weights read, launch, sampling)
  int64_t prefill_overhead_ns = 0;       ///< steps with prefill work (no CUDA graphs, setup)
  int64_t prefill_ns_per_token = 0;      ///< per prefill token
  int64_t decode_ns_per_sequence = 0;    ///< per decoding sequence
  double attention_ns_per_kv_token = 0;  ///< per KV token attended across the batch
  int64_t kv_transfer_latency_ns = 0;    ///< P/D: fixed part of receiving a prompt's KV
  int64_t kv_transfer_ns_per_token = 0;  ///< P/D: per transferred (not locally cached) token
  double jitter = 0;                     ///< relative standard deviation of a step
  double per_sequence_ns = 0;            ///< per sequence in the batch (CPU: inputs, sampling)
  uint32_t token_granularity = 1;        ///< T is rounded up to a multiple of this
  /// tokenCost: sorted by tokens; interpolated linearly between knots, held at the first
  /// knot's cost below it and extended along the last segment beyond the last. Empty: no term.
  std::vector<token_cost_knot> token_cost;
  uint32_t all_reduces = 0;        ///< all-reduces a step (2 a layer with TP > 1)
  double all_reduce_floor_ns = 0;  ///< an all-reduce never takes less (latency-bound)
  double all_reduce_base_ns = 0;   ///< bandwidth-bound: base + per token
  double all_reduce_ns_per_token = 0;
  /// allReduceCost: one all-reduce by tokens, a table read like tokenCost; when given it
  /// replaces the floor/base/per-token formula (NCCL switches protocols with the message size).
  std::vector<token_cost_knot> all_reduce_cost;
  double prefill_attention_ns_per_pair = 0;  ///< per causal (query, key) pair of prefill work

  /// The step's token count after padding.
  uint64_t padded_tokens(const batch_stats& batch) const;
  /// tokenCost at `tokens` (0 without a table).
  double token_cost_ns(uint64_t tokens) const;
  /// One all-reduce over `tokens` tokens' activations.
  double all_reduce_ns(uint64_t tokens) const;
  /// Every term of the mean duration.
  step_cost_breakdown breakdown(const batch_stats& batch) const;
  /// The mean duration (no jitter), rounded to whole nanoseconds.
  int64_t mean_step_ns(const batch_stats& batch) const;
  /// The duration with jitter drawn from `rng` (no draw when jitter or the mean is 0).
  int64_t step_duration(const batch_stats& batch, std::mt19937_64& rng) const;
  /// Time for a prompt's KV to arrive from a prefill pod.
  int64_t kv_transfer_ns(uint32_t transferred_tokens) const;
};

/// Parses a LatencyProfile document (apiVersion inferstack.io/v1alpha1). Unknown keys and bad
/// values become problems naming `file` and the field; returns nullopt if there are any.
std::optional<step_profile> parse_step_profile(const std::string& yaml_text,
                                               const std::string& file,
                                               std::vector<config::problem>& problems);

/// Reads a profile file; throws std::runtime_error listing every problem (file, field, why).
step_profile load_step_profile(const std::string& path);

/// Reads `<dir>/<name>.yaml` (e.g. config/profiles/8b-h100.yaml); throws like load_step_profile.
step_profile load_named_step_profile(const std::string& dir, const std::string& name);

// ------------------------------------------------------------------------------------------------
// llm-d-inference-sim calculators (pkg/llm-d-inference-sim/latencies.go, HEAD)
// ------------------------------------------------------------------------------------------------

enum class sim_calculator {
  legacy,     ///< "": constant when time-to-first-token (or its sd) is set, else per-token
  constant,   ///< "constant"
  per_token,  ///< "per-token"
};

std::string_view to_string(sim_calculator c);
std::optional<sim_calculator> parse_sim_calculator(std::string_view text);

/// The simulator's latency flags, in nanoseconds.
struct sim_latency_params {
  sim_calculator calculator = sim_calculator::legacy;
  int64_t time_to_first_token_ns = 0;
  int64_t time_to_first_token_std_dev_ns = 0;
  int64_t inter_token_latency_ns = 0;
  int64_t inter_token_latency_std_dev_ns = 0;
  int64_t prefill_overhead_ns = 0;
  int64_t prefill_time_per_token_ns = 0;
  int64_t prefill_time_std_dev_ns = 0;
  int64_t kv_cache_transfer_latency_ns = 0;
  int64_t kv_cache_transfer_latency_std_dev_ns = 0;
  int64_t kv_cache_transfer_time_per_token_ns = 0;
  int64_t kv_cache_transfer_time_std_dev_ns = 0;
  double time_factor_under_load = 1.0;

  /// The simulator's checks: nothing negative, time-factor-under-load >= 1, and the std-devs of
  /// TTFT, ITL and kv-cache-transfer-latency at most 30% of their means (compared in float32, as
  /// the simulator does). The prefill and per-token transfer std-devs have no upper bound there.
  std::vector<std::string> validate() const;
};

/// True for the simulator's latency flag names (time-to-first-token, ..., latency-calculator,
/// time-factor-under-load).
bool is_sim_latency_option(std::string_view key);

/// Sets one option from its flag name and text: durations are Go strings ("250ms", "50us"); a
/// bare integer means milliseconds, as the simulator's flags did before v0.8. Returns an error
/// message for a bad value or an unknown key.
std::optional<std::string> set_sim_latency_option(sim_latency_params& params, std::string_view key,
                                                  std::string_view value);

/// The simulator's RandomNormDuration, quirks included: mean and sd are first truncated to whole
/// milliseconds; a zero-ms sd returns the mean without drawing; the draw is clamped to
/// [0.3, 1.7] x mean and truncated to whole milliseconds. So anything under 1 ms becomes 0.
int64_t sim_random_norm_duration(int64_t mean_ns, int64_t std_dev_ns, std::mt19937_64& rng);

class sim_latency {
 public:
  /// Throws std::invalid_argument listing validate()'s problems.
  explicit sim_latency(sim_latency_params params);

  const sim_latency_params& params() const { return params_; }

  /// L = 1 + (factor - 1) * (running - 1) / (max_num_seqs - 1); 1 when max_num_seqs <= 1.
  /// `running` counts the request being timed.
  double load_factor(int64_t running, int64_t max_num_seqs) const;

  /// Time to first token, from when the request starts running.
  ///  constant:  N(ttft*L, ttft_sd); remote prefill: N(kv_latency, kv_latency_sd) (no load).
  ///  per-token: N(overhead*L + (prompt - cached) * (per_token*L), prefill_sd);
  ///             remote prefill: N(prompt * kv_per_token, kv_time_sd) (no load, cached ignored).
  ///  legacy:    constant if ttft or its sd is set, else per-token; decided separately for the
  ///             remote (kv-transfer) case by kv-cache-transfer-latency and its sd.
  int64_t ttft_ns(int64_t prompt_tokens, int64_t cached_tokens, int64_t running,
                  int64_t max_num_seqs, bool remote_prefill, std::mt19937_64& rng) const;

  /// One inter-token latency: N(itl*L, itl_sd), L re-read for every token.
  int64_t itl_ns(int64_t running, int64_t max_num_seqs, std::mt19937_64& rng) const;

 private:
  int64_t scaled(int64_t ns, double factor) const;

  sim_latency_params params_;
};

// ------------------------------------------------------------------------------------------------
// KAITO named profiles and their selection
// ------------------------------------------------------------------------------------------------

inline constexpr std::string_view profile_small_l40s = "small-l40s";
inline constexpr std::string_view profile_8b_h100 = "8b-h100";
inline constexpr std::string_view profile_70b_tp8 = "70b-tp8";

inline constexpr std::string_view annotation_latency_profile = "kaito.sh/latency-profile";
inline constexpr std::string_view annotation_latency_calculator = "kaito.sh/latency-calculator";

/// The simulator parameters of a KAITO profile (the kaito table's values, all of them set) with
/// `calculator` chosen; nullopt for an unknown name.
std::optional<sim_latency_params> kaito_sim_params(std::string_view profile,
                                                   sim_calculator calculator);

/// Parameter count in billions parsed from a model name: "llama-3.1-8b-instruct" -> 8,
/// "qwen2.5-0.5b" -> 0.5, "mixtral-8x7b" -> 56, "smollm2-360m" -> 0.36. The number must start a
/// name component (after start, '-', '_', '/', ':' or '.') and its b/m suffix must end one, so
/// "Qwen3-30B-A3B" -> 30 and "4bit" is not a size. nullopt when there is none ("Phi-4-mini").
std::optional<double> parse_parameter_count_b(std::string_view model_name);

struct profile_selection {
  std::string profile;  ///< small-l40s | 8b-h100 | 70b-tp8
  sim_calculator calculator = sim_calculator::per_token;
  std::optional<double> parameters_b;  ///< what the model name gave, if anything
  std::vector<std::string> warnings;   ///< unknown annotation values that were ignored
};

/// KAITO's rule: < 5B small-l40s, 5-25B 8b-h100, >= 25B 70b-tp8, unparsable 8b-h100; the
/// annotations kaito.sh/latency-profile (auto|small-l40s|8b-h100|70b-tp8) and
/// kaito.sh/latency-calculator (per-token|constant, default per-token) override. Unknown values
/// fall back to the automatic choice / per-token and add a warning.
profile_selection select_profile(std::string_view model_name,
                                 const std::map<std::string, std::string>& annotations = {});

// ------------------------------------------------------------------------------------------------
// What the engine calls
// ------------------------------------------------------------------------------------------------

enum class timing {
  per_step,     ///< the engine asks step_ns() for every step it runs
  per_request,  ///< each sequence's next token falls due at its own time
};

struct first_token_query {
  uint32_t prompt_tokens = 0;  ///< tokens to (re)compute: prompt, plus output after preemption
  uint32_t cached_tokens = 0;  ///< prefix-cache hit
  uint32_t running = 0;        ///< running sequences, this one included
  uint32_t max_num_seqs = 1;
  bool remote_prefill = false;
};

class latency_model {
 public:
  virtual ~latency_model() = default;

  virtual timing mode() const = 0;
  virtual std::string_view name() const = 0;

  /// per_step: the duration of a step computing `batch`.
  virtual int64_t step_ns(const batch_stats& batch, std::mt19937_64& rng) const = 0;
  /// per_step: time for a remote prefill's KV to arrive (`cached` tokens were already local).
  virtual int64_t kv_transfer_ns(uint32_t prompt_tokens, uint32_t cached_tokens,
                                 std::mt19937_64& rng) const = 0;
  /// per_request: time from starting to run until the first token.
  virtual int64_t first_token_ns(const first_token_query& q, std::mt19937_64& rng) const = 0;
  /// per_request: time from one token to the next.
  virtual int64_t next_token_ns(uint32_t running, uint32_t max_num_seqs,
                                std::mt19937_64& rng) const = 0;
};

/// (a) per-step timing from a step_profile. first_token_ns / next_token_ns give what one request
/// alone would see (for estimates; the engine does not call them in this mode).
class step_latency_model final : public latency_model {
 public:
  explicit step_latency_model(step_profile profile) : profile_(std::move(profile)) {}

  const step_profile& profile() const { return profile_; }

  timing mode() const override { return timing::per_step; }
  std::string_view name() const override { return profile_.name; }
  int64_t step_ns(const batch_stats& batch, std::mt19937_64& rng) const override;
  int64_t kv_transfer_ns(uint32_t prompt_tokens, uint32_t cached_tokens,
                         std::mt19937_64& rng) const override;
  int64_t first_token_ns(const first_token_query& q, std::mt19937_64& rng) const override;
  int64_t next_token_ns(uint32_t running, uint32_t max_num_seqs,
                        std::mt19937_64& rng) const override;

 private:
  step_profile profile_;
};

/// (b) per-request timing from the simulator's calculators. step_ns is 0 (no step cost) and
/// kv_transfer_ns is the calculator's remote-prefill TTFT.
class sim_latency_model final : public latency_model {
 public:
  explicit sim_latency_model(sim_latency calc, std::string name = "sim")
      : calc_(std::move(calc)), name_(std::move(name)) {}

  const sim_latency& calculator() const { return calc_; }

  timing mode() const override { return timing::per_request; }
  std::string_view name() const override { return name_; }
  int64_t step_ns(const batch_stats&, std::mt19937_64&) const override { return 0; }
  int64_t kv_transfer_ns(uint32_t prompt_tokens, uint32_t cached_tokens,
                         std::mt19937_64& rng) const override;
  int64_t first_token_ns(const first_token_query& q, std::mt19937_64& rng) const override;
  int64_t next_token_ns(uint32_t running, uint32_t max_num_seqs,
                        std::mt19937_64& rng) const override;

 private:
  sim_latency calc_;
  std::string name_;
};

}  // namespace inferstack::actors::pod::engine
