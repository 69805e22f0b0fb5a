#include "actors/picker/load_scraper.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
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

/// One model server's scrapes: a kept-alive connection (opened again after any failure), its
/// resolved address, and at most one scrape in flight.
struct scrape_session : std::enable_shared_from_this<scrape_session> {
  scrape_session(net::io_context& io, scrape_target t, std::chrono::milliseconds timeout,
                 load_scraper::sink& deliver)
      : target(std::move(t)), stream(io), resolver(io), timeout(timeout), deliver(deliver) {}

  scrape_target target;
  beast::tcp_stream stream;
  tcp::resolver resolver;
  std::chrono::milliseconds timeout;
  load_scraper::sink& deliver;
  bool connected = false;
  bool busy = false;     ///< a scrape is in flight: the next round skips this server
  bool removed = false;  ///< no longer a target: finish quietly
  beast::flat_buffer buffer;
  bhttp::request<bhttp::empty_body> req;
  std::optional<bhttp::response<bhttp::string_body>> res;

  void scrape() {
    if (busy || removed) return;
    busy = true;
    if (connected)
      send(true);
    else
      connect();
  }

  void connect() {
    resolver.async_resolve(
        target.host, std::to_string(target.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type found) {
          if (ec || self->removed) return self->failed();
          self->stream.expires_after(self->timeout);
          self->stream.async_connect(found, [self](beast::error_code ec, const tcp::endpoint&) {
            if (ec) return self->failed();
            self->connected = true;
            self->send(false);
          });
        });
  }

  /// On a `reused` connection the server may have closed meanwhile: one fresh try at once.
  void send(bool reused) {
    req = {bhttp::verb::get, target.path, 11};
    req.set(bhttp::field::host, target.host);
    req.keep_alive(true);
    res.emplace();
    buffer.clear();
    stream.expires_after(timeout);
    auto retry_or_fail = [self = shared_from_this(), reused] {
      if (!reused || self->removed) return self->failed();
      self->close();
      self->connect();
    };
    bhttp::async_write(
        stream, req, [self = shared_from_this(), retry_or_fail](beast::error_code ec, size_t) {
          if (ec) return retry_or_fail();
          bhttp::async_read(
              self->stream, self->buffer, *self->res,
              [self, retry_or_fail](beast::error_code ec, size_t) {
                if (ec) return retry_or_fail();
                self->stream.expires_never();
                if (!self->res->keep_alive()) self->close();
                self->busy = false;
                if (self->removed || self->res->result_int() != 200) return;
                self->deliver(parse_vllm_metrics(self->res->body(), self->target.pod));
              });
        });
  }

  /// No report this round: the picker's staleness bound turns a silent server into a saturated
  /// one. The next round connects afresh.
  void failed() {
    close();
    busy = false;
  }

  void close() {
    resolver.cancel();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    connected = false;
  }
};

struct load_scraper::impl {
  std::chrono::milliseconds interval;
  sink deliver;
  net::io_context ioc;
  net::steady_timer tick{ioc};
  std::map<std::string, std::shared_ptr<scrape_session>> sessions;  ///< on the I/O thread only
  std::thread thread;

  void round() {
    for (auto& [pod, session] : sessions)
      session->scrape();
    tick.expires_after(interval);
    tick.async_wait([this](beast::error_code ec) {
      if (!ec) round();
    });
  }
};

load_scraper::load_scraper(std::chrono::milliseconds interval, sink deliver)
    : impl_(std::make_shared<impl>()) {
  impl_->interval = interval;
  impl_->deliver = std::move(deliver);
  net::post(impl_->ioc, [i = impl_.get()] { i->round(); });
  impl_->thread = std::thread([i = impl_] { i->ioc.run(); });
}

load_scraper::~load_scraper() {
  // Closing every connection and the timer aborts what is pending; then the loop runs out of work.
  net::post(impl_->ioc, [i = impl_.get()] {
    i->tick.cancel();
    for (auto& [pod, session] : i->sessions) {
      session->removed = true;
      session->close();
    }
    i->sessions.clear();
  });
  if (impl_->thread.joinable()) impl_->thread.join();
}

void load_scraper::add(scrape_target target) {
  net::post(impl_->ioc, [i = impl_.get(), target = std::move(target)]() mutable {
    auto pod = target.pod;
    if (auto old = i->sessions.find(pod); old != i->sessions.end()) {
      old->second->removed = true;
      old->second->close();
    }
    // A scrape is at most one interval per server late; beyond a few, the server is slow.
    auto timeout = std::max(i->interval * 5, std::chrono::milliseconds(500));
    i->sessions[pod] =
        std::make_shared<scrape_session>(i->ioc, std::move(target), timeout, i->deliver);
  });
}

void load_scraper::remove(const std::string& pod) {
  net::post(impl_->ioc, [i = impl_.get(), pod] {
    auto it = i->sessions.find(pod);
    if (it == i->sessions.end()) return;
    it->second->removed = true;
    it->second->close();
    i->sessions.erase(it);
  });
}

}  // namespace inferstack::actors::picker
