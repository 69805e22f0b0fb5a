#include "actors/picker/load_scraper.hpp"

#include <stdexcept>

namespace inferstack::actors::picker {

namespace {

std::string label(std::string_view labels, std::string_view key) {
  auto pos = labels.find(std::string(key) + "=\"");
  while (pos != std::string_view::npos && pos > 0 && labels[pos - 1] != ',' &&
         labels[pos - 1] != ' ')
    pos = labels.find(std::string(key) + "=\"", pos + 1);
  if (pos == std::string_view::npos) return {};
  auto start = pos + key.size() + 2;
  auto end = labels.find('"', start);
  return std::string(labels.substr(start, end - start));
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

pod::load_report parse_vllm_metrics(std::string_view text, const std::string& pod_name) {
  pod::load_report r;
  r.pod = pod_name;
  r.ready = true;
  double kv = 0;
  int kv_series = 0;
  double latest_lora = -1;
  http::for_each_sample(text, [&](std::string_view name, std::string_view labels, double value) {
    if (name == "vllm:num_requests_running") {
      r.running += static_cast<uint32_t>(value);
    } else if (name == "vllm:num_requests_waiting") {
      r.waiting += static_cast<uint32_t>(value);
    } else if (name == "vllm:kv_cache_usage_perc" || name == "vllm:gpu_cache_usage_perc") {
      kv += value;
      ++kv_series;
    } else if (name == "vllm:cache_config_info") {
      try {
        r.block_size = static_cast<uint32_t>(std::stoul(label(labels, "block_size")));
        r.num_gpu_blocks = static_cast<uint32_t>(std::stoul(label(labels, "num_gpu_blocks")));
      } catch (const std::exception&) {
      }
    } else if (name == "vllm:lora_requests_info" && value >= latest_lora) {
      // vLLM keeps one series per change, valued with its timestamp: the latest one counts.
      latest_lora = value;
      try {
        r.max_loras = static_cast<uint32_t>(std::stoul(label(labels, "max_lora")));
      } catch (const std::exception&) {
      }
      r.running_loras = split_commas(label(labels, "running_lora_adapters"));
      r.waiting_loras = split_commas(label(labels, "waiting_lora_adapters"));
    } else if (name == "vllm:num_gpu_loaded_lora_adapters") {
      r.lora_residency = true;  // the server reports residency (vLLM's residency metrics)
    } else if (name == "vllm:max_gpu_lora_adapters") {
      r.lora_residency = true;
      if (latest_lora < 0) r.max_loras = static_cast<uint32_t>(value);
    } else if (name == "vllm:lora_adapter_loaded" && value > 0) {
      r.lora_residency = true;
      auto level = label(labels, "level");
      auto adapter = label(labels, "adapter_name");
      if (level == "gpu") r.gpu_loras.push_back(adapter);
      if (level == "cpu") r.cpu_loras.push_back(adapter);
    }
  });
  if (kv_series > 0) r.kv_usage = kv / kv_series;
  return r;
}

load_scraper::load_scraper(std::chrono::milliseconds interval, sink deliver)
    : scraper_(std::make_unique<http::metrics_scraper>(
          interval,
          [deliver = std::move(deliver)](const std::string& pod, const std::string& body) {
            deliver(parse_vllm_metrics(body, pod));
          })) {}

load_scraper::~load_scraper() = default;

void load_scraper::add(scrape_target target) {
  scraper_->add(std::move(target));
}

void load_scraper::remove(const std::string& pod) {
  scraper_->remove(pod);
}

}  // namespace inferstack::actors::picker
