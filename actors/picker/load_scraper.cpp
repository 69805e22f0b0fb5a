#include "actors/picker/load_scraper.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace inferstack::actors::picker {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

/// name{labels} value -> (name, labels text, value)
bool split_sample(std::string_view line, std::string_view& name, std::string_view& labels,
                  double& value) {
  if (line.empty() || line.front() == '#') return false;
  auto brace = line.find('{');
  auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  if (brace != std::string_view::npos && brace < space) {
    auto close = line.find('}', brace);
    if (close == std::string_view::npos) return false;
    name = line.substr(0, brace);
    labels = line.substr(brace + 1, close - brace - 1);
  } else {
    name = line.substr(0, space);
    labels = {};
  }
  try {
    value = std::stod(std::string(line.substr(space + 1)));
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

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
  size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto line = text.substr(start, end - start);
    start = end + 1;
    std::string_view name, labels;
    double value = 0;
    if (!split_sample(line, name, labels, value)) continue;
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
    }
  }
  if (kv_series > 0) r.kv_usage = kv / kv_series;
  return r;
}

struct load_scraper::impl {
  std::chrono::milliseconds interval;
  sink deliver;
  std::mutex mutex;
  std::condition_variable wake;
  bool running = true;
  std::map<std::string, scrape_target> targets;
  std::thread thread;

  void scrape_all(const std::vector<scrape_target>& list) {
    net::io_context ioc;
    for (const auto& t : list) {
      struct op {
        beast::tcp_stream stream;
        beast::flat_buffer buffer;
        bhttp::request<bhttp::empty_body> req;
        bhttp::response<bhttp::string_body> res;
        explicit op(net::io_context& io) : stream(io) {}
      };
      auto o = std::make_shared<op>(ioc);
      o->req = {bhttp::verb::get, t.path, 11};
      o->req.set(bhttp::field::host, t.host);
      tcp::endpoint ep;
      boost::system::error_code ec;
      ep = tcp::endpoint(net::ip::make_address(t.host, ec), t.port);
      if (ec) continue;  // only literal addresses: no blocking resolution here
      o->stream.expires_after(interval * 5);
      auto pod = t.pod;
      o->stream.async_connect(ep, [this, o, pod](beast::error_code ec) {
        if (ec) return;
        bhttp::async_write(o->stream, o->req, [this, o, pod](beast::error_code ec, size_t) {
          if (ec) return;
          bhttp::async_read(o->stream, o->buffer, o->res,
                            [this, o, pod](beast::error_code ec, size_t) {
                              if (ec || o->res.result_int() != 200) return;
                              deliver(parse_vllm_metrics(o->res.body(), pod));
                            });
        });
      });
    }
    ioc.run();
  }

  void run() {
    std::unique_lock lock{mutex};
    while (running) {
      std::vector<scrape_target> list;
      for (auto& [name, t] : targets)
        list.push_back(t);
      lock.unlock();
      scrape_all(list);
      lock.lock();
      wake.wait_for(lock, interval, [this] { return !running; });
    }
  }
};

load_scraper::load_scraper(std::chrono::milliseconds interval, sink deliver)
    : impl_(std::make_shared<impl>()) {
  impl_->interval = interval;
  impl_->deliver = std::move(deliver);
  impl_->thread = std::thread([i = impl_] { i->run(); });
}

load_scraper::~load_scraper() {
  {
    std::lock_guard guard{impl_->mutex};
    impl_->running = false;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void load_scraper::add(scrape_target target) {
  std::lock_guard guard{impl_->mutex};
  impl_->targets[target.pod] = std::move(target);
}

void load_scraper::remove(const std::string& pod) {
  std::lock_guard guard{impl_->mutex};
  impl_->targets.erase(pod);
}

}  // namespace inferstack::actors::picker
