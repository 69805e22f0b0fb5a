// The report of a simulation: per variant a summary of flat figures (the terminal table and
// summary.json), and the per-request records and per-second series as CSV. Only virtual-time
// figures go in the files, so that the same inputs and seed give byte-identical files; how fast
// the run went is printed, not written.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "simulate/report/records.hpp"

namespace inferstack::simulate {

/// `--slo ttft=2s,itl=100ms`: a request is good when it ended ok within both.
struct slo_target {
  std::optional<double> ttft_ms;
  std::optional<double> itl_ms;
};

/// Reads "ttft=2s,itl=100ms" (units ms, s; either may be left out). Throws
/// std::invalid_argument naming what is wrong.
slo_target parse_slo(const std::string& text);

/// Flat figures in a fixed order: requests, ok, errors, errors.<class>, ttft_p50_ms ...
using summary = std::vector<std::pair<std::string, double>>;

/// The summary of one run. `pod_counters`: the pods' own counters at the end (preemptions).
summary summarize(const variant_run& run, const slo_target& slo,
                  const std::map<std::string, double>& pod_counters);

/// What the cluster's nodes were used for and what they cost (the node mocker's figures at the
/// run's end), and the NodePools' capacity types.
struct usage_facts {
  std::map<std::string, double> set_gpu_hours;       ///< by "<ns>/<set>"
  std::map<std::string, double> pool_node_hours;     ///< by NodePool
  std::map<std::string, double> pool_gpu_hours;      ///< by NodePool
  std::map<std::string, double> pool_cost;           ///< by NodePool: node-hours x pricePerHour
  std::map<std::string, std::string> pool_capacity;  ///< by NodePool: "spot" | "on-demand"
};

/// Appends the cost figures to a run's summary: gpu_hours.set.<ns>/<set>,
/// gpu_hours.nodepool.<pool>, node_hours.nodepool.<pool>, cost.nodepool.<pool>, cost_on_demand,
/// cost_spot, cost (their sum), cost_per_1k_ok (cost over a thousand ok requests) and
/// requests_lost: requests the stack failed to answer (a stream cut, 502, 503, a timeout, other
/// 5xx, unfinished) -- what a node lost under them causes while capacity suffices; refusals by
/// policy (4xx: rate limits, auth, bad requests) and hang-ups are not counted.
void add_usage(summary& s, const variant_run& run, const usage_facts& usage);

/// The terminal table: one column per variant.
void print_table(std::ostream& out, const std::vector<std::string>& labels,
                 const std::vector<summary>& summaries);

/// summary.json: one flat object; keys "<label>.<figure>" when there are several variants, the
/// figures alone when there is one.
void write_summary_json(const std::string& path, const std::vector<std::string>& labels,
                        const std::vector<summary>& summaries);

/// requests.csv: variant,index,arrival_s,pool,pod,status,outcome,ttft_ms,itl_ms,e2e_ms,
/// prompt_tokens,cached_tokens,output_tokens (empty where a time did not happen).
void write_requests_csv(const std::string& path, const std::vector<variant_run>& runs);

/// timeseries.csv: variant,second,pool,arrivals,completions,errors,queue,running,kv_usage,
/// hit_rate,ttft_p90_ms,ready_replicas,replicas,gpus.
void write_series_csv(const std::string& path, const std::vector<variant_run>& runs);

/// A figure as the files write it: integers plainly, others with up to 6 significant digits.
std::string figure_text(double v);

}  // namespace inferstack::simulate
