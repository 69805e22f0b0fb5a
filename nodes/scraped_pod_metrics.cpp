#include "nodes/scraped_pod_metrics.hpp"

namespace inferstack::nodes {

scraped_pod_metrics::scraped_pod_metrics(std::chrono::milliseconds interval,
                                         std::chrono::milliseconds stale_after, clock_fn now)
    : stale_after_(stale_after), now_(std::move(now)) {
  scraper_ = std::make_unique<http::metrics_scraper>(
      interval, [this](const std::string& pod, const std::string& body) {
        reading r;
        r.at = now_();
        http::for_each_sample(body, [&](std::string_view name, std::string_view, double value) {
          auto it = r.sums.find(name);
          if (it == r.sums.end())
            r.sums.emplace(std::string(name), value);
          else
            it->second += value;
        });
        std::lock_guard guard{mutex_};
        if (watched_.count(pod)) readings_[pod] = std::move(r);
      });
}

void scraped_pod_metrics::watch(const std::string& pod, const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return;
  http::scrape_target t;
  t.name = pod;
  t.host = address.substr(0, colon);
  try {
    t.port = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
  } catch (const std::exception&) {
    return;
  }
  {
    std::lock_guard guard{mutex_};
    watched_.insert(pod);
  }
  scraper_->add(std::move(t));
}

void scraped_pod_metrics::forget(const std::string& pod) {
  scraper_->remove(pod);
  std::lock_guard guard{mutex_};
  watched_.erase(pod);
  readings_.erase(pod);
}

std::optional<double> scraped_pod_metrics::read(const std::string& pod,
                                                const std::string& metric) const {
  std::lock_guard guard{mutex_};
  auto it = readings_.find(pod);
  if (it == readings_.end() || now_() - it->second.at > stale_after_) return std::nullopt;
  auto m = it->second.sums.find(metric);
  if (m == it->second.sums.end()) return std::nullopt;
  return m->second;
}

}  // namespace inferstack::nodes
