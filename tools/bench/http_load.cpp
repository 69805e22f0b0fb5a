#include "tools/bench/http_load.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace inferstack::bench {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

uint64_t completion_tokens_in(const std::string& body) {
  // the last usage object of the body (non-streamed, or the include_usage chunk)
  static const std::string key = "\"completion_tokens\":";
  auto pos = body.rfind(key);
  if (pos == std::string::npos) return 0;
  return std::strtoull(body.c_str() + pos + key.size(), nullptr, 10);
}

struct shared_state {
  load_options options;
  steady::time_point measure_from;
  steady::time_point stop_at;
  std::mutex mutex;
  load_result result;
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(net::io_context& ioc, std::shared_ptr<shared_state> state)
      : stream_(net::make_strand(ioc)), state_(std::move(state)) {
    req_.method(http::verb::post);
    req_.target(state_->options.target);
    req_.version(11);
    req_.set(http::field::host, state_->options.host);
    req_.set(http::field::content_type, "application/json");
    for (auto& [k, v] : state_->options.headers)
      req_.set(k, v);
    req_.body() = state_->options.body;
    req_.keep_alive(true);
    req_.prepare_payload();
  }

  void start(const tcp::endpoint& endpoint) {
    endpoint_ = endpoint;
    stream_.async_connect(endpoint, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->fail();
      self->stream_.socket().set_option(tcp::no_delay(true));
      self->send();
    });
  }

 private:
  void send() {
    if (steady::now() >= state_->stop_at) return;
    started_ = steady::now();
    http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail();
      self->receive();
    });
  }

  void receive() {
    parser_.emplace();
    parser_->body_limit(64 * 1024 * 1024);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->fail();
                       self->done();
                     });
  }

  void done() {
    auto now = steady::now();
    const auto& res = parser_->get();
    bool ok = res.result_int() >= 200 && res.result_int() < 300;
    bool counted = started_ >= state_->measure_from && now <= state_->stop_at;
    if (ok || counted) {
      std::lock_guard guard{state_->mutex};
      if (ok) state_->result.answered++;
      if (counted && ok) {
        state_->result.requests++;
        state_->result.completion_tokens += completion_tokens_in(res.body());
        state_->result.latencies_us.push_back(
            std::chrono::duration<double, std::micro>(now - started_).count());
      } else if (counted) {
        state_->result.errors++;
      }
    }
    if (!res.keep_alive()) {  // the server closes this connection: open another, as clients do
      beast::error_code ignored;
      stream_.socket().close(ignored);
      buffer_.clear();
      return start(endpoint_);
    }
    send();
  }

  void fail() {
    std::lock_guard guard{state_->mutex};
    if (steady::now() < state_->stop_at) state_->result.errors++;
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::optional<http::response_parser<http::string_body>> parser_;
  std::shared_ptr<shared_state> state_;
  steady::time_point started_;
  tcp::endpoint endpoint_;
};

}  // namespace

load_result run_load(const load_options& options) {
  auto state = std::make_shared<shared_state>();
  state->options = options;
  auto begin = steady::now();
  state->measure_from = begin + std::chrono::duration_cast<steady::duration>(options.warmup);
  state->stop_at =
      state->measure_from + std::chrono::duration_cast<steady::duration>(options.duration);
  net::io_context ioc{options.threads};
  tcp::endpoint endpoint{net::ip::make_address(options.host), options.port};
  for (int i = 0; i < options.connections; ++i)
    std::make_shared<connection>(ioc, state)->start(endpoint);
  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  state->result.seconds = std::chrono::duration<double>(options.duration).count();
  return state->result;
}

held_streams::held_streams(const std::string& host, uint16_t port, const std::string& target,
                           const std::string& body, int count) {
  std::string request =
      "POST " + target + " HTTP/1.1\r\nHost: " + host +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) break;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(request.size())) {
      ::close(fd);
      break;
    }
    fds_.push_back(fd);
    ++opened_;
  }
}

held_streams::~held_streams() {
  close();
}

void held_streams::close() {
  for (int fd : fds_)
    ::close(fd);
  fds_.clear();
}

namespace {

/// Bytes of a complete request at the front of `in` (headers and Content-Length body), or 0.
size_t complete_request(const std::string& in) {
  auto end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  size_t length = 0;
  for (const char* name : {"Content-Length:", "content-length:"})
    if (auto at = in.find(name); at != std::string::npos && at < end) {
      length = std::strtoul(in.c_str() + at + std::strlen(name), nullptr, 10);
      break;
    }
  return in.size() >= end + 4 + length ? end + 4 + length : 0;
}

void canned_loop(uint16_t port, const std::string& response) {
  auto at = listen_on_loopback(port, 1024, true, "canned server");
  std::vector<std::string> pending(1024);  // per descriptor: bytes of an unfinished request
  std::vector<char> chunk(64 * 1024);
  epoll_event ready[256];
  for (;;) {
    int n = ::epoll_wait(at.poll, ready, 256, -1);
    for (int i = 0; i < n; ++i) {
      int fd = ready[i].data.fd;
      if (fd == at.listener) {
        accept_waiting(at, [&pending](int c) {
          if (static_cast<size_t>(c) >= pending.size()) pending.resize(c * 2);
          pending[c].clear();
        });
        continue;
      }
      auto got = ::read(fd, chunk.data(), chunk.size());
      if (got <= 0) {
        ::close(fd);
        continue;
      }
      auto& in = pending[fd];
      in.append(chunk.data(), static_cast<size_t>(got));
      while (size_t used = complete_request(in)) {
        in.erase(0, used);
        if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) < 0) break;
      }
    }
  }
}

}  // namespace

loopback_listener listen_on_loopback(uint16_t port, int backlog, bool reuse_port, const char* who) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  if (reuse_port) ::setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listener, backlog) != 0) {
    std::perror(who);
    std::exit(1);
  }
  int poll = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listener;
  ::epoll_ctl(poll, EPOLL_CTL_ADD, listener, &ev);
  return {listener, poll};
}

void accept_waiting(const loopback_listener& l, const std::function<void(int)>& on_new) {
  int one = 1;
  for (int c; (c = ::accept4(l.listener, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    on_new(c);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = c;
    ::epoll_ctl(l.poll, EPOLL_CTL_ADD, c, &e);
  }
}

void run_canned_server(uint16_t port, size_t body_size, int threads) {
  std::string body(body_size, 'x');
  std::string response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                         std::to_string(body.size()) + "\r\n\r\n" + body;
  std::vector<std::thread> loops;
  for (int i = 1; i < threads; ++i)
    loops.emplace_back([port, &response] { canned_loop(port, response); });
  canned_loop(port, response);
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

namespace {

/// The fields of /proc/<pid>/stat after the command name (which may hold spaces), from field 3
/// (the state) on; empty if the process is gone.
std::string stat_after_name(const std::string& proc_dir) {
  std::ifstream stat(proc_dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? std::string{}
                                                                : text.substr(close + 2);
}

}  // namespace

cpu_times cpu_split(int pid) {
  auto text = stat_after_name("/proc/" + std::to_string(pid));
  if (text.empty()) return {};
  std::istringstream fields(text);
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::strtod(field.c_str(), nullptr);
    if (i == 15) {
      stime = std::strtod(field.c_str(), nullptr);
      break;
    }
  }
  auto ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {utime / ticks, stime / ticks};
}

double cpu_seconds(int pid) {
  auto t = cpu_split(pid);
  return t.user + t.system;
}

double tree_cpu_seconds(int pid) {
  double sum = cpu_seconds(pid);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    auto text = stat_after_name(entry.path().string());  // "<state> <ppid> ..."
    if (text.size() > 2 && std::atoi(text.c_str() + 2) == pid) sum += cpu_seconds(std::stoi(name));
  }
  return sum;
}

std::optional<std::string> http_get(uint16_t port, const std::string& path) {
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(5));
    stream.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result() == http::status::ok) return std::move(res.body());
  } catch (const std::exception&) {
    // not listening (yet), or it failed
  }
  return std::nullopt;
}

bool wait_http_ok(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_get(port, path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace inferstack::bench
