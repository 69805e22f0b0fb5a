// A model server's /metrics endpoint for tests: a real socket on 127.0.0.1 serving a fixed
// Prometheus text, counting the connections it accepts.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace inferstack::testing {

/// A model server's /metrics on 127.0.0.1: counts the connections it accepts; closes each one
/// after its first response when `close_each` is set.
class metrics_server {
 public:
  metrics_server(std::string text, bool close_each)
      : text_(std::move(text)), close_each_(close_each), acceptor_(io_) {
    boost::asio::ip::tcp::endpoint ep{boost::asio::ip::make_address("127.0.0.1"), 0};
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accepting_ = std::thread([this] { accept_loop(); });
  }
  ~metrics_server() {
    stopping_ = true;
    boost::system::error_code ignored;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept()
    acceptor_.close(ignored);
    {
      std::lock_guard guard{mutex_};
      for (auto* s : open_)
        s->shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    }
    accepting_.join();
    for (auto& t : serving_)
      t.join();
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      boost::asio::ip::tcp::socket socket{io_};
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec) return;
      ++connections_;
      serving_.emplace_back([this, s = std::move(socket)]() mutable { serve(std::move(s)); });
    }
  }
  void serve(boost::asio::ip::tcp::socket socket) {
    {
      std::lock_guard guard{mutex_};
      open_.push_back(&socket);
    }
    boost::beast::flat_buffer buffer;
    for (;;) {
      boost::beast::http::request<boost::beast::http::string_body> req;
      boost::system::error_code ec;
      boost::beast::http::read(socket, buffer, req, ec);
      if (ec) break;
      boost::beast::http::response<boost::beast::http::string_body> res{
          boost::beast::http::status::ok, 11};
      res.set(boost::beast::http::field::content_type, "text/plain; version=0.0.4");
      res.body() = req.target() == "/metrics" ? text_ : "";
      if (req.target() != "/metrics") res.result(boost::beast::http::status::not_found);
      res.keep_alive(!close_each_);
      res.prepare_payload();
      boost::beast::http::write(socket, res, ec);
      if (ec || close_each_) break;
    }
    std::lock_guard guard{mutex_};
    open_.erase(std::remove(open_.begin(), open_.end(), &socket), open_.end());
  }

  std::string text_;
  bool close_each_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<boost::asio::ip::tcp::socket*> open_;
  std::thread accepting_;
  std::vector<std::thread> serving_;
};

}  // namespace inferstack::testing
