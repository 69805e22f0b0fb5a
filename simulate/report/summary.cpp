// Percentiles are nearest-rank over the requests that have the figure (TTFT and ITL: streamed
// requests that ended ok; E2E: every request that ended ok). ITL is each request's mean gap
// between its tokens after the first (inference-perf's and vLLM's TPOT), so its percentiles are
// over requests, not over every gap.
#include "simulate/report/summary.hpp"

#include "runtime/json_escape.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <set>
#include <stdexcept>

namespace inferstack::simulate {

namespace {

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return -1;
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  auto k = rank == 0 ? 0 : rank - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double duration_ms(const std::string& text, const std::string& what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument("--slo: " + what + "=" + text + ": not a duration (2s, 150ms)");
  }
  auto unit = text.substr(used);
  if (v < 0) throw std::invalid_argument("--slo: " + what + " must not be negative");
  if (unit == "ms") return v;
  if (unit == "s") return v * 1000;
  throw std::invalid_argument("--slo: " + what + "=" + text + ": give a unit, ms or s");
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string ms_or_empty(int64_t ns) {
  return ns < 0 ? "" : figure_text(static_cast<double>(ns) / 1e6);
}

}  // namespace

std::string figure_text(double v) {
  if (std::isnan(v)) return "null";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

slo_target parse_slo(const std::string& text) {
  slo_target slo;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = item.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("--slo: '" + item + "': expected ttft=DURATION or itl=DURATION");
    auto key = item.substr(0, eq);
    auto value = item.substr(eq + 1);
    if (key == "ttft")
      slo.ttft_ms = duration_ms(value, key);
    else if (key == "itl")
      slo.itl_ms = duration_ms(value, key);
    else
      throw std::invalid_argument("--slo: unknown target '" + key + "' (ttft, itl)");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return slo;
}

summary summarize(const variant_run& run, const slo_target& slo,
                  const std::map<std::string, double>& pod_counters) {
  summary s;
  std::vector<double> ttft, itl, e2e;
  std::map<std::string, double> errors;
  double ok = 0, good = 0, output_tokens = 0, prompt_tokens = 0, cached_tokens = 0;
  int64_t first_arrival = -1, last_end = 0;
  for (const auto& r : run.requests) {
    if (first_arrival < 0) first_arrival = r.arrival_ns;
    if (r.e2e_ns >= 0) last_end = std::max(last_end, r.arrival_ns + r.e2e_ns);
    if (r.outcome != "ok") {
      errors[r.outcome.empty() ? "unfinished" : r.outcome] += 1;
      continue;
    }
    ++ok;
    output_tokens += r.output_tokens;
    prompt_tokens += r.prompt_tokens;
    cached_tokens += r.cached_tokens;
    double t = static_cast<double>(r.ttft_ns) / 1e6, i = static_cast<double>(r.itl_ns) / 1e6;
    if (r.ttft_ns >= 0) ttft.push_back(t);
    if (r.itl_ns >= 0) itl.push_back(i);
    e2e.push_back(static_cast<double>(r.e2e_ns) / 1e6);
    bool meets = (!slo.ttft_ms || (r.ttft_ns >= 0 && t <= *slo.ttft_ms)) &&
                 (!slo.itl_ms || r.itl_ns < 0 || i <= *slo.itl_ms);
    if (meets) ++good;
  }
  double span_s = first_arrival < 0 ? 0 : static_cast<double>(last_end - first_arrival) / 1e9;
  auto n = static_cast<double>(run.requests.size());
  s.emplace_back("requests", n);
  s.emplace_back("ok", ok);
  s.emplace_back("errors", n - ok);
  for (const auto& [cls, count] : errors)
    s.emplace_back("errors." + cls, count);
  for (auto [name, values] : {std::pair{"ttft", &ttft}, {"itl", &itl}, {"e2e", &e2e}}) {
    s.emplace_back(std::string(name) + "_p50_ms", percentile(*values, 50));
    s.emplace_back(std::string(name) + "_p90_ms", percentile(*values, 90));
    s.emplace_back(std::string(name) + "_p99_ms", percentile(*values, 99));
  }
  s.emplace_back("duration_s", span_s);
  s.emplace_back("output_tokens_per_s", span_s > 0 ? output_tokens / span_s : 0);
  s.emplace_back("goodput_req_per_s", span_s > 0 ? good / span_s : 0);
  s.emplace_back("goodput_fraction", n > 0 ? good / n : 0);
  s.emplace_back("prefix_hit_rate", prompt_tokens > 0 ? cached_tokens / prompt_tokens : 0);
  double preemptions = 0;
  if (auto it = pod_counters.find("vllm:num_preemptions_total"); it != pod_counters.end())
    preemptions = it->second;
  s.emplace_back("preemptions", preemptions);
  if (auto it = pod_counters.find("inferstack_lora_adapter_loads_total"); it != pod_counters.end())
    s.emplace_back("lora_loads", it->second);  // LoRA adapters swapped in (pods serving LoRAs)
  // Per second, summed over pools.
  std::map<int64_t, series_row> total;
  for (const auto& row : run.series) {
    auto& t = total[row.second];
    t.queue += row.queue;
    t.running += row.running;
    t.ready_replicas += row.ready_replicas;
    t.gpus += row.gpus;
  }
  double queue_peak = 0, running_peak = 0, replicas_min = -1, replicas_max = 0, replicas_sum = 0,
         gpu_seconds = 0;
  for (const auto& [second, t] : total) {
    queue_peak = std::max(queue_peak, double(t.queue));
    running_peak = std::max(running_peak, double(t.running));
    double ready = t.ready_replicas;
    replicas_min = replicas_min < 0 ? ready : std::min(replicas_min, ready);
    replicas_max = std::max(replicas_max, ready);
    replicas_sum += ready;
    gpu_seconds += t.gpus;
  }
  s.emplace_back("queue_peak", queue_peak);
  s.emplace_back("running_peak", running_peak);
  s.emplace_back("replicas_min", std::max(0.0, replicas_min));
  s.emplace_back("replicas_max", replicas_max);
  s.emplace_back("replicas_mean", total.empty() ? 0 : replicas_sum / double(total.size()));
  s.emplace_back("gpu_hours", gpu_seconds / 3600);
  if (slo.ttft_ms) s.emplace_back("slo_ttft_ms", *slo.ttft_ms);
  if (slo.itl_ms) s.emplace_back("slo_itl_ms", *slo.itl_ms);
  return s;
}

void add_usage(summary& s, const variant_run& run, const usage_facts& usage) {
  // The stack's own failures to answer; a refusal by policy (4xx) or a hang-up is no loss.
  static const std::set<std::string> failed_by_stack = {
      "stream_error", "bad_gateway", "unavailable", "timeout", "server_error", "unfinished"};
  double lost = 0, ok = 0;
  for (const auto& r : run.requests) {
    if (r.outcome == "ok")
      ++ok;
    else if (failed_by_stack.count(r.outcome.empty() ? "unfinished" : r.outcome))
      ++lost;
  }
  s.emplace_back("requests_lost", lost);
  for (const auto& [set, hours] : usage.set_gpu_hours)
    s.emplace_back("gpu_hours.set." + set, hours);
  double on_demand = 0, spot = 0;
  for (const auto& [pool, hours] : usage.pool_node_hours) {
    auto get = [&pool](const std::map<std::string, double>& m) {
      auto it = m.find(pool);
      return it == m.end() ? 0.0 : it->second;
    };
    s.emplace_back("node_hours.nodepool." + pool, hours);
    s.emplace_back("gpu_hours.nodepool." + pool, get(usage.pool_gpu_hours));
    s.emplace_back("cost.nodepool." + pool, get(usage.pool_cost));
    auto capacity = usage.pool_capacity.find(pool);
    (capacity != usage.pool_capacity.end() && capacity->second == "spot" ? spot : on_demand) +=
        get(usage.pool_cost);
  }
  s.emplace_back("cost_on_demand", on_demand);
  s.emplace_back("cost_spot", spot);
  s.emplace_back("cost", on_demand + spot);
  s.emplace_back("cost_per_1k_ok", ok > 0 ? (on_demand + spot) / ok * 1000 : 0);
}

void print_table(std::ostream& out, const std::vector<std::string>& labels,
                 const std::vector<summary>& summaries) {
  // Rows: every figure any variant has, in first-seen order.
  std::vector<std::string> rows;
  std::set<std::string> seen;
  for (const auto& s : summaries)
    for (const auto& [k, v] : s)
      if (seen.insert(k).second) rows.push_back(k);
  size_t key_width = 8, col = 12;
  for (const auto& r : rows)
    key_width = std::max(key_width, r.size());
  for (const auto& l : labels)
    col = std::max(col, l.size() + 2);
  out << std::left << std::setw(static_cast<int>(key_width)) << "figure";
  for (const auto& l : labels)
    out << std::right << std::setw(static_cast<int>(col)) << l;
  out << "\n";
  for (const auto& r : rows) {
    out << std::left << std::setw(static_cast<int>(key_width)) << r;
    for (const auto& s : summaries) {
      std::string cell = "-";
      for (const auto& [k, v] : s)
        if (k == r) {
          char buf[40];
          if (v == std::floor(v) && std::fabs(v) < 1e12)
            std::snprintf(buf, sizeof buf, "%.0f", v);
          else
            std::snprintf(buf, sizeof buf, std::fabs(v) >= 100 ? "%.1f" : "%.3f", v);
          cell = buf;
        }
      out << std::right << std::setw(static_cast<int>(col)) << cell;
    }
    out << "\n";
  }
}

void write_summary_json(const std::string& path, const std::vector<std::string>& labels,
                        const std::vector<summary>& summaries) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "{";
  bool first = true;
  for (size_t i = 0; i < summaries.size(); ++i)
    for (const auto& [k, v] : summaries[i]) {
      auto key = summaries.size() > 1 ? labels[i] + "." + k : k;
      out << (first ? "\n  \"" : ",\n  \"") << runtime::json_escape(key)
          << "\": " << figure_text(v);
      first = false;
    }
  out << "\n}\n";
}

void write_requests_csv(const std::string& path, const std::vector<variant_run>& runs) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "variant,index,arrival_s,pool,pod,status,outcome,ttft_ms,itl_ms,e2e_ms,prompt_tokens,"
         "cached_tokens,output_tokens\n";
  for (const auto& run : runs)
    for (const auto& r : run.requests)
      out << csv_field(run.label) << ',' << r.index << ','
          << figure_text(static_cast<double>(r.arrival_ns) / 1e9) << ',' << csv_field(r.pool) << ','
          << csv_field(r.pod) << ',' << r.status << ',' << r.outcome << ','
          << ms_or_empty(r.ttft_ns) << ',' << ms_or_empty(r.itl_ns) << ',' << ms_or_empty(r.e2e_ns)
          << ',' << r.prompt_tokens << ',' << r.cached_tokens << ',' << r.output_tokens << '\n';
}

void write_series_csv(const std::string& path, const std::vector<variant_run>& runs) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw std::runtime_error(path + ": cannot write");
  out << "variant,second,pool,arrivals,completions,errors,queue,running,kv_usage,hit_rate,"
         "ttft_p90_ms,ready_replicas,replicas,gpus\n";
  for (const auto& run : runs)
    for (const auto& r : run.series)
      out << csv_field(run.label) << ',' << r.second << ',' << csv_field(r.pool) << ','
          << r.arrivals << ',' << r.completions << ',' << r.errors << ',' << r.queue << ','
          << r.running << ',' << figure_text(r.kv_usage) << ','
          << (r.hit_rate < 0 ? "" : figure_text(r.hit_rate)) << ','
          << (r.ttft_p90_ms < 0 ? "" : figure_text(r.ttft_p90_ms)) << ',' << r.ready_replicas << ','
          << r.replicas << ',' << r.gpus << '\n';
}

}  // namespace inferstack::simulate
