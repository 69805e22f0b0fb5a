#include "actors/pod/pod_metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <vector>

namespace inferstack::actors::pod {

namespace {

using prometheus::Histogram;

template <class Builder>
auto& family(Builder builder, prometheus::Registry& registry, const char* name, const char* help) {
  return builder.Name(name).Help(help).Register(registry);
}

/// At most this many vllm:lora_requests_info series: the oldest goes first.
constexpr size_t max_lora_series = 64;

}  // namespace

// -- series --------------------------------------------------------------------------------------

template <class Metric>
Metric* metric_series<Metric>::get() {
  if (!metric_ && family_) {
    if constexpr (std::is_same_v<Metric, Histogram>)
      metric_ = &family_->Add(labels_, buckets_);
    else
      metric_ = &family_->Add(labels_);
  }
  return metric_;
}

template <class Metric>
void metric_series<Metric>::reset() {
  std::lock_guard guard{*mutex_};
  if (metric_) family_->Remove(metric_);
  metric_ = nullptr;
}

template class metric_series<prometheus::Gauge>;
template class metric_series<prometheus::Counter>;
template class metric_series<prometheus::Histogram>;

void gauge_series::Set(double value) {
  std::lock_guard guard{*mutex_};
  if (frozen_) return;
  if (auto* g = get()) g->Set(value);
}

void gauge_series::set_fake(double value) {
  std::lock_guard guard{*mutex_};
  if (auto* g = get()) g->Set(value);
}

void counter_series::Increment(double by) {
  std::lock_guard guard{*mutex_};
  if (frozen_) return;
  if (auto* c = get()) c->Increment(by);
}

double counter_series::Value() {
  std::lock_guard guard{*mutex_};
  return metric_ ? metric_->Value() : 0;
}

void counter_series::add_fake(double by) {
  std::lock_guard guard{*mutex_};
  if (auto* c = get()) c->Increment(by);
}

void histogram_series::Observe(double value) {
  std::lock_guard guard{*mutex_};
  if (frozen_) return;
  if (auto* h = get()) h->Observe(value);
}

void histogram_series::observe(histogram_batch& batch) {
  if (batch.empty()) return;
  {
    std::lock_guard guard{*mutex_};
    if (!frozen_)
      if (auto* h = get()) h->ObserveMultiple(batch.counts_, batch.sum_);
  }
  std::fill(batch.counts_.begin(), batch.counts_.end(), 0.0);
  batch.sum_ = 0;
  batch.observed_ = 0;
}

histogram_batch::histogram_batch(const histogram_series& series)
    : bounds_(&series.buckets_), counts_(series.buckets_.size() + 1, 0.0) {}

void histogram_batch::observe(double value) {
  // As prometheus::Histogram::Observe: the first bucket whose bound is at least the value.
  auto bucket = std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin();
  counts_[static_cast<size_t>(bucket)] += 1;
  sum_ += value;
  ++observed_;
}

std::optional<int64_t> histogram_series::fill_fake(const std::vector<int64_t>& counts) {
  std::lock_guard guard{*mutex_};
  if (counts.empty() || buckets_.empty()) return std::nullopt;
  auto* h = get();
  if (!h) return std::nullopt;
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    double value = i < buckets_.size() ? buckets_[i] : buckets_.back() + 1;
    for (int64_t k = 0; k < counts[i]; ++k)
      h->Observe(value);
    total += counts[i] * static_cast<int64_t>(value);
  }
  return total;
}

// -- pod_metrics ---------------------------------------------------------------------------------

template <class M>
void pod_metrics::bind(metric_series<M>& s, prometheus::Family<M>* f, std::vector<double> buckets) {
  s.mutex_ = &mutex_;
  s.family_ = f;
  s.labels_ = {{"model_name", model_}};
  s.buckets_ = std::move(buckets);
  if (!options_.simulator) s.get();  // vLLM shows every series from the start
}

pod_metrics::pod_metrics(prometheus::Registry& r, const std::string& model, uint32_t block_size,
                         uint32_t num_gpu_blocks, uint32_t max_model_len, uint32_t max_loras,
                         pod_metrics_options options)
    : options_(std::move(options)),
      model_(model),
      max_loras_(max_loras),
      success_family_(family(prometheus::BuildCounter(), r, "vllm:request_success_total",
                             "Count of successfully processed requests.")),
      lora_family_(family(prometheus::BuildGauge(), r, "vllm:lora_requests_info",
                          "Running stats on lora requests.")) {
  if (!options_.steady_ns)
    options_.steady_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
          .count();
    };
  if (!options_.unix_seconds)
    options_.unix_seconds = [] {
      return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  bool sim = options_.simulator;
  auto gauge = [&](const char* name, const char* help) {
    return &family(prometheus::BuildGauge(), r, name, help);
  };
  auto counter = [&](const char* name, const char* help) {
    return &family(prometheus::BuildCounter(), r, name, help);
  };
  auto histogram = [&](const char* name, const char* help) {
    return &family(prometheus::BuildHistogram(), r, name, help);
  };
  bind(running, gauge("vllm:num_requests_running", "Number of requests currently running on GPU."));
  bind(waiting, gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed."));
  bind(kv_usage, gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."));
  bind(prefix_queries, counter("vllm:prefix_cache_queries_total",
                               "Prefix cache queries, in terms of number of queried tokens."));
  bind(prefix_hits, counter("vllm:prefix_cache_hits_total",
                            "Prefix cache hits, in terms of number of cached tokens."));
  bind(prompt_tokens, counter("vllm:prompt_tokens_total", "Number of prefill tokens processed."));
  bind(generation_tokens,
       counter("vllm:generation_tokens_total", "Number of generation tokens processed."));
  bind(preemptions, sim ? nullptr
                        : counter("vllm:num_preemptions_total",
                                  "Cumulative number of preemption from the engine."));
  bind(
      ttft,
      histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds."),
      ttft_bucket_bounds);
  bind(
      itl,
      histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds."),
      tpot_bucket_bounds);
  bind(tpot,
       histogram("vllm:time_per_output_token_seconds",
                 "Histogram of time per output token in seconds."),
       tpot_bucket_bounds);
  bind(request_tpot,
       histogram("vllm:request_time_per_output_token_seconds",
                 "Histogram of time_per_output_token_seconds per request."),
       tpot_bucket_bounds);
  bind(
      e2e,
      histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds."),
      request_latency_bucket_bounds);
  bind(queue_time,
       histogram("vllm:request_queue_time_seconds",
                 "Histogram of time spent in WAITING phase for request."),
       request_latency_bucket_bounds);
  bind(inference_time,
       histogram("vllm:request_inference_time_seconds",
                 "Histogram of time spent in RUNNING phase for request."),
       request_latency_bucket_bounds);
  bind(prefill_time,
       histogram("vllm:request_prefill_time_seconds",
                 "Histogram of time spent in PREFILL phase for request."),
       request_latency_bucket_bounds);
  bind(decode_time,
       histogram("vllm:request_decode_time_seconds",
                 "Histogram of time spent in DECODE phase for request."),
       request_latency_bucket_bounds);
  auto tokens = one_two_five_buckets(max_model_len);
  bind(request_prompt_tokens,
       histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed."), tokens);
  bind(request_generation_tokens,
       histogram("vllm:request_generation_tokens", "Number of generation tokens processed."),
       tokens);
  bind(
      request_max_tokens,
      histogram("vllm:request_params_max_tokens", "Histogram of the max_tokens request parameter."),
      tokens);
  // The simulator's name for it differs from vLLM's.
  bind(request_max_generation_tokens,
       histogram(sim ? "vllm:max_num_generation_tokens" : "vllm:request_max_num_generation_tokens",
                 "Histogram of maximum number of requested generation tokens."),
       tokens);
  bind(gpu_loras, sim ? nullptr
                      : gauge("vllm:num_gpu_loaded_lora_adapters",
                              "Number of LoRA adapters currently loaded on the GPU."));
  bind(lora_loads,
       sim ? nullptr
           : counter("inferstack_lora_adapter_loads_total",
                     "LoRA adapters swapped into a GPU slot (from the CPU cache or disk)."));
  if (!sim) {
    family(prometheus::BuildGauge(), r, "vllm:max_gpu_lora_adapters",
           "Maximum number of LoRA adapters on the GPU at once (max_loras).")
        .Add({{"model_name", model_}})
        .Set(max_loras);
    loaded_family_ = &family(prometheus::BuildGauge(), r, "vllm:lora_adapter_loaded",
                             "1 when the LoRA adapter is loaded at this level (gpu, cpu).");
  }
  family(prometheus::BuildGauge(), r, "vllm:cache_config_info",
         "Information of the LLMEngine CacheConfig")
      .Add({{"block_size", std::to_string(block_size)},
            {"num_gpu_blocks", std::to_string(num_gpu_blocks)}})
      .Set(1);
  if (!sim)
    for (const char* reason : {"stop", "length", "abort"})  // vLLM's FinishReason values
      success_[reason] = &success_family_.Add({{"model_name", model_}, {"finish_reason", reason}});

  if (options_.fake) {
    freeze();
    auto initial = *options_.fake;
    if (!initial.loras) initial.loras.emplace();  // the empty series, now
    fake_ = initial;
    apply_fake(initial, nullptr);
  } else {
    running.Set(0);
    waiting.Set(0);
    kv_usage.Set(0);
  }
}

void pod_metrics::success(const std::string& finish_reason) {
  std::lock_guard guard{mutex_};
  auto it = success_.find(finish_reason);
  if (it == success_.end())
    it = success_
             .emplace(finish_reason, &success_family_.Add({{"model_name", model_},
                                                           {"finish_reason", finish_reason}}))
             .first;
  it->second->Increment();
}

void pod_metrics::lora_info(const std::string& running_loras, const std::string& waiting_loras) {
  lora_info(running_loras, waiting_loras, options_.unix_seconds());
}

void pod_metrics::lora_info(const std::string& running_loras, const std::string& waiting_loras,
                            double timestamp_s) {
  std::lock_guard guard{mutex_};
  if (fake_) return;  // the fake series stand
  auto key = std::make_pair(running_loras, waiting_loras);
  auto it = lora_series_.find(key);
  if (it == lora_series_.end()) {
    if (lora_series_.size() >= max_lora_series) {
      auto oldest =
          std::min_element(lora_series_.begin(), lora_series_.end(),
                           [](auto& a, auto& b) { return a.second->Value() < b.second->Value(); });
      lora_family_.Remove(oldest->second);
      lora_series_.erase(oldest);
    }
    it = lora_series_
             .emplace(key, &lora_family_.Add({{"max_lora", std::to_string(max_loras_)},
                                              {"running_lora_adapters", running_loras},
                                              {"waiting_lora_adapters", waiting_loras}}))
             .first;
  }
  it->second->Set(timestamp_s);
}

void pod_metrics::lora_residency(const std::vector<std::string>& gpu,
                                 const std::vector<std::string>& cpu) {
  gpu_loras.Set(static_cast<double>(gpu.size()));
  std::lock_guard guard{mutex_};
  if (loaded_family_ == nullptr || fake_) return;
  std::set<std::pair<std::string, std::string>> now;
  for (const auto& name : gpu)
    now.emplace("gpu", name);
  for (const auto& name : cpu)
    now.emplace("cpu", name);
  for (auto it = loaded_.begin(); it != loaded_.end();) {
    if (now.count(it->first) > 0) {
      ++it;
      continue;
    }
    loaded_family_->Remove(it->second);
    it = loaded_.erase(it);
  }
  for (const auto& key : now) {
    if (loaded_.count(key) > 0) continue;
    auto& g = loaded_family_->Add(
        {{"adapter_name", key.second}, {"level", key.first}, {"pinned", "false"}});
    g.Set(1);
    loaded_.emplace(key, &g);
  }
}

void pod_metrics::clear_loras() {
  for (auto& [key, gauge] : lora_series_)
    lora_family_.Remove(gauge);
  lora_series_.clear();
}

void pod_metrics::freeze() {
  // Fake metrics stand in for the measured state, latencies and cache counters (as the
  // simulator's reportHistogramValue & co. skip them); request and token counts still count.
  auto freeze_one = [](auto& s) {
    s.reset();
    std::lock_guard guard{*s.mutex_};
    s.frozen_ = true;
  };
  for (auto* s : {&running, &waiting, &kv_usage})
    freeze_one(*s);
  for (auto* s : {&prefix_queries, &prefix_hits})
    freeze_one(*s);
  for (auto* s : {&ttft, &itl, &tpot, &request_tpot, &e2e, &queue_time, &inference_time,
                  &prefill_time, &decode_time})
    freeze_one(*s);
}

bool pod_metrics::fake() {
  std::lock_guard guard{mutex_};
  return fake_.has_value();
}

std::optional<std::string> pod_metrics::update_fake(std::string_view json) {
  fake_metrics update;
  if (auto e = parse_fake_metrics(json, update)) return e;
  return update_fake(update);
}

std::optional<std::string> pod_metrics::check_fake(std::string_view json) {
  fake_metrics update;
  if (auto e = parse_fake_metrics(json, update)) return e;
  fake_metrics merged;
  {
    std::lock_guard guard{mutex_};
    if (fake_) merged = *fake_;
  }
  merge_fake_metrics(merged, update);
  return validate_fake_metrics(merged);
}

std::optional<std::string> pod_metrics::update_fake(const fake_metrics& update) {
  std::optional<fake_metrics> old;
  {
    std::lock_guard guard{mutex_};
    old = fake_;
  }
  fake_metrics merged = old ? *old : fake_metrics{};
  merge_fake_metrics(merged, update);
  if (auto e = validate_fake_metrics(merged)) return e;
  // What the update names, with the finish reasons the check filled in.
  fake_metrics applied = update;
  if (applied.request_success_total) applied.request_success_total = merged.request_success_total;
  if (!old) freeze();  // fake from now on
  {
    std::lock_guard guard{mutex_};
    fake_ = merged;
  }
  apply_fake(applied, old ? &*old : nullptr);
  return std::nullopt;
}

void pod_metrics::set_fake_gauge(gauge_series& g, const fake_value& v, bool round) {
  {
    std::lock_guard guard{mutex_};
    fake_functions_.erase(std::remove_if(fake_functions_.begin(), fake_functions_.end(),
                                         [&](const fake_gauge& f) { return f.gauge == &g; }),
                          fake_functions_.end());
    if (v.function) fake_functions_.push_back({&g, *v.function, options_.steady_ns(), round});
  }
  double value = v.function ? fake_function_value(*v.function, 0) : v.fixed;
  g.set_fake(round && v.function ? std::trunc(value) : value);
}

void pod_metrics::refresh_fake() {
  std::lock_guard guard{mutex_};
  if (fake_functions_.empty()) return;
  auto now = options_.steady_ns();
  auto step = std::max<int64_t>(1, options_.fake_refresh_ns);
  for (const auto& f : fake_functions_) {
    auto elapsed = (now - f.since_ns) / step * step;  // the simulator's ticker steps
    double value = fake_function_value(f.function, elapsed);
    if (auto* g = f.gauge->get()) g->Set(f.round ? std::trunc(value) : value);
  }
}

void pod_metrics::apply_token_update(histogram_series& hist, counter_series& total,
                                     const std::optional<std::vector<int64_t>>& new_hist,
                                     const std::optional<std::vector<int64_t>>* old_hist,
                                     const std::optional<int64_t>& new_total,
                                     const std::optional<int64_t>* old_total) {
  bool had_hist = old_hist && old_hist->has_value();
  bool had_total = old_total && old_total->has_value();
  std::optional<int64_t> hist_total;
  if (new_hist) {
    if (had_hist) hist.reset();
    hist_total = hist.fill_fake(*new_hist);
  }
  if (!new_hist && !new_total) return;
  if (had_hist || had_total) total.reset();
  auto value = new_total ? new_total : hist_total;
  if (value) total.add_fake(static_cast<double>(*value));
}

void pod_metrics::apply_fake(const fake_metrics& u, const fake_metrics* old) {
  if (u.running_requests) set_fake_gauge(running, *u.running_requests, true);
  if (u.waiting_requests) set_fake_gauge(waiting, *u.waiting_requests, true);
  if (u.kv_cache_usage) set_fake_gauge(kv_usage, *u.kv_cache_usage, false);

  // A histogram given anew starts over (the simulator re-registers it).
  auto histogram = [&](std::optional<std::vector<int64_t>> fake_metrics::*field,
                       std::initializer_list<histogram_series*> series) {
    if (!(u.*field)) return;
    for (auto* h : series) {
      if (old && old->*field) h->reset();
      h->fill_fake(*(u.*field));
    }
  };
  histogram(&fake_metrics::ttft_buckets, {&ttft});
  histogram(&fake_metrics::tpot_buckets, {&tpot, &itl});
  histogram(&fake_metrics::e2e_buckets, {&e2e});
  histogram(&fake_metrics::queue_time_buckets, {&queue_time});
  histogram(&fake_metrics::inference_time_buckets, {&inference_time});
  histogram(&fake_metrics::prefill_time_buckets, {&prefill_time});
  histogram(&fake_metrics::decode_time_buckets, {&decode_time});
  histogram(&fake_metrics::request_tpot_buckets, {&request_tpot});
  histogram(&fake_metrics::request_params_max_tokens, {&request_max_tokens});
  histogram(&fake_metrics::request_max_generation_tokens, {&request_max_generation_tokens});

  apply_token_update(request_prompt_tokens, prompt_tokens, u.request_prompt_tokens,
                     old ? &old->request_prompt_tokens : nullptr, u.total_prompt_tokens,
                     old ? &old->total_prompt_tokens : nullptr);
  apply_token_update(request_generation_tokens, generation_tokens, u.request_generation_tokens,
                     old ? &old->request_generation_tokens : nullptr, u.total_generation_tokens,
                     old ? &old->total_generation_tokens : nullptr);

  if (u.prefix_cache_queries) {
    if (old && old->prefix_cache_queries) prefix_queries.reset();
    prefix_queries.add_fake(static_cast<double>(*u.prefix_cache_queries));
  }
  if (u.prefix_cache_hits) {
    if (old && old->prefix_cache_hits) prefix_hits.reset();
    prefix_hits.add_fake(static_cast<double>(*u.prefix_cache_hits));
  }

  std::lock_guard guard{mutex_};
  if (u.request_success_total) {
    if (old && old->request_success_total) {
      for (auto& [reason, counter] : success_)
        success_family_.Remove(counter);
      success_.clear();
    }
    for (const auto& [reason, count] : *u.request_success_total) {
      auto it = success_.find(reason);
      if (it == success_.end())
        it = success_
                 .emplace(reason,
                          &success_family_.Add({{"model_name", model_}, {"finish_reason", reason}}))
                 .first;
      it->second->Increment(static_cast<double>(count));
    }
  }
  if (u.loras) {
    clear_loras();
    auto add = [&](const std::string& running_loras, const std::string& waiting_loras, double at) {
      auto& g = lora_family_.Add({{"max_lora", std::to_string(max_loras_)},
                                  {"running_lora_adapters", running_loras},
                                  {"waiting_lora_adapters", waiting_loras}});
      g.Set(at);
      lora_series_[{running_loras, waiting_loras}] = &g;
    };
    for (const auto& l : *u.loras)
      add(l.running, l.waiting, l.timestamp);
    if (u.loras->empty()) add("", "", std::floor(options_.unix_seconds()));
  }
}

}  // namespace inferstack::actors::pod
