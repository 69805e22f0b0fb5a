// The gateway's HTTP client for model servers in other processes (gateway/upstream_client),
// against a server that answers from a script of raw bytes: whole and streamed bodies, bodies
// ended by the connection, pooled connections, a stale pooled connection, a silent server and
// a body cut short, and an exchange its client abandons.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "gateway/upstream_client.hpp"

using namespace inferstack;
using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

/// What the scripted server does with one request.
struct step {
  std::string reply;         ///< raw bytes written back
  bool close_after = false;  ///< then close the connection
  bool silent = false;       ///< write nothing; wait until the client goes away
};

/// Serves the steps in order, one connection at a time, on a thread of its own.
class scripted_server {
 public:
  explicit scripted_server(std::vector<step> steps)
      : steps_(std::move(steps)),
        acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }

  ~scripted_server() {
    stopping_ = true;
    boost::system::error_code ignored;
    // Wakes the blocking accept: a connection of our own.
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ignored);
    thread_.join();
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  /// Silent steps whose client closed the connection.
  int hangups() const { return hangups_; }

  std::vector<std::string> requests() const {
    std::lock_guard guard{mutex_};
    return requests_;
  }

 private:
  void serve() {
    size_t next = 0;
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      ++connections_;
      net::streambuf in;
      while (next < steps_.size()) {
        // One request: its head, then Content-Length bytes of body.
        auto head_size = net::read_until(socket, in, "\r\n\r\n", ec);
        if (ec) break;
        std::string head(net::buffers_begin(in.data()),
                         net::buffers_begin(in.data()) + static_cast<long>(head_size));
        in.consume(head_size);
        size_t length = 0;
        auto at = head.find("Content-Length: ");
        if (at != std::string::npos) length = std::stoul(head.substr(at + 16));
        if (in.size() < length)
          net::read(socket, in, net::transfer_exactly(length - in.size()), ec);
        std::string body(net::buffers_begin(in.data()),
                         net::buffers_begin(in.data()) + static_cast<long>(length));
        in.consume(length);
        {
          std::lock_guard guard{mutex_};
          requests_.push_back(head + body);
        }
        const auto& s = steps_[next++];
        if (s.silent) {
          char sink[256];
          while (!ec)
            socket.read_some(net::buffer(sink), ec);
          ++hangups_;
          break;
        }
        net::write(socket, net::buffer(s.reply), ec);
        if (s.close_after || ec) break;
      }
    }
  }

  std::vector<step> steps_;
  net::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> hangups_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
};

/// Everything one exchange's callbacks heard, once it has ended one way or the other.
struct outcome {
  int status = 0;
  std::string content_type, body;
  bool whole = false;  ///< came through on_complete
  bool head = false, ended = false;
  std::string error;
  bool before_first_byte = false;
  int pieces = 0;
};

/// Sends one request and waits (bounded) for its end. `whole`: set on_complete too.
outcome exchange(gateway::upstream_pool& pool, uint16_t port, bool whole,
                 std::chrono::nanoseconds timeout = 5s) {
  auto result = std::make_shared<outcome>();
  auto done = std::make_shared<std::promise<void>>();
  gateway::upstream_handler h;
  h.on_head = [result](int status, const std::string& type) {
    result->head = true;
    result->status = status;
    result->content_type = type;
  };
  h.on_data = [result](std::string data, std::function<void()> resume) {
    result->body += data;
    result->pieces++;
    resume();
  };
  h.on_end = [result, done] {
    result->ended = true;
    done->set_value();
  };
  if (whole)
    h.on_complete = [result, done](int status, const std::string& type, std::string body) {
      result->whole = true;
      result->status = status;
      result->content_type = type;
      result->body = std::move(body);
      done->set_value();
    };
  h.on_error = [result, done](const std::string& error, bool before_first_byte) {
    result->error = error;
    result->before_first_byte = before_first_byte;
    done->set_value();
  };
  gateway::upstream_target target{"127.0.0.1", port, ""};
  gateway::upstream_request req;
  req.target = "/v1/completions";
  req.headers = {{"Content-Type", "application/json"}, {"X-Gateway-Model-Name", "m"}};
  req.body = R"({"model":"m","prompt":"hi"})";
  auto finished = done->get_future();
  pool.send(target, req, timeout, h);
  REQUIRE(finished.wait_for(10s) == std::future_status::ready);
  return *result;
}

/// The pool gets a connection back just after the exchange's last callback: wait for it.
size_t idle_after_a_while(gateway::upstream_pool& pool, size_t expected) {
  for (int i = 0; i < 200 && pool.idle_connections() != expected; ++i)
    std::this_thread::sleep_for(10ms);
  return pool.idle_connections();
}

const std::string json_reply =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

}  // namespace

TEST_CASE("an upstream's whole response is handed over in one piece, and its connection kept") {
  scripted_server server({{json_reply}, {json_reply}});
  gateway::upstream_pool pool(1);
  for (int i = 0; i < 2; ++i) {
    auto r = exchange(pool, server.port(), true);
    CHECK(r.error.empty());
    CHECK(r.whole);
    CHECK(r.status == 200);
    CHECK(r.content_type == "application/json");
    CHECK(r.body == R"({"ok":true})");
    CHECK(idle_after_a_while(pool, 1) == 1);
  }
  CHECK(server.connections() == 1);
  auto requests = server.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].rfind("POST /v1/completions HTTP/1.1\r\n", 0) == 0);
  CHECK(requests[0].find("\r\nHost: 127.0.0.1:") != std::string::npos);
  CHECK(requests[0].find("\r\nX-Gateway-Model-Name: m\r\n") != std::string::npos);
  CHECK(requests[0].find("\r\nContent-Length: 27\r\n\r\n{\"model\":\"m\",\"prompt\":\"hi\"}") !=
        std::string::npos);
}

TEST_CASE("a chunked event stream is handed over piece by piece, after its head") {
  std::string stream =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "9\r\ndata: a\n\n\r\n9\r\ndata: b\n\n\r\ne\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
  scripted_server server({{stream}});
  gateway::upstream_pool pool(1);
  auto r = exchange(pool, server.port(), true);  // an event stream is never read whole
  CHECK(r.error.empty());
  CHECK_FALSE(r.whole);
  CHECK(r.head);
  CHECK(r.ended);
  CHECK(r.status == 200);
  CHECK(r.content_type == "text/event-stream");
  CHECK(r.body == "data: a\n\ndata: b\n\ndata: [DONE]\n\n");
  CHECK(idle_after_a_while(pool, 1) == 1);
}

TEST_CASE("a body without a length ends with the connection, which is not kept") {
  scripted_server server(
      {{"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello there",
        true}});
  gateway::upstream_pool pool(1);
  auto r = exchange(pool, server.port(), true);
  CHECK(r.error.empty());
  CHECK(r.head);
  CHECK(r.ended);
  CHECK(r.body == "hello there");
  CHECK(pool.idle_connections() == 0);
}

TEST_CASE("a pooled connection the upstream closed meanwhile is replaced once, without an error") {
  scripted_server server({{json_reply, true}, {json_reply}});
  gateway::upstream_pool pool(1);
  CHECK(exchange(pool, server.port(), true).status == 200);
  CHECK(idle_after_a_while(pool, 1) == 1);  // kept: the server said nothing of closing it
  std::this_thread::sleep_for(50ms);        // the server's close reaches the pooled connection
  auto r = exchange(pool, server.port(), true);
  CHECK(r.error.empty());
  CHECK(r.status == 200);
  CHECK(server.connections() == 2);
}

TEST_CASE("an upstream that does not answer fails at the timeout, before the first byte") {
  scripted_server server({{"", false, true}});
  gateway::upstream_pool pool(1);
  auto began = std::chrono::steady_clock::now();
  auto r = exchange(pool, server.port(), true, 300ms);
  CHECK(std::chrono::steady_clock::now() - began >= 300ms);
  CHECK_FALSE(r.error.empty());
  CHECK(r.before_first_byte);
  CHECK(pool.idle_connections() == 0);
}

TEST_CASE("a body cut short fails after the first byte when streamed, before it when read whole") {
  std::string cut =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
      "{\"partial\":";
  scripted_server server({{cut, true}, {cut, true}});
  gateway::upstream_pool pool(1);
  auto streamed = exchange(pool, server.port(), false);
  CHECK(streamed.head);
  CHECK(streamed.body == "{\"partial\":");
  CHECK_FALSE(streamed.error.empty());
  CHECK_FALSE(streamed.before_first_byte);
  auto whole = exchange(pool, server.port(), true);
  CHECK_FALSE(whole.whole);
  CHECK_FALSE(whole.error.empty());
  CHECK(whole.before_first_byte);  // nothing of it reached the handler: it may try elsewhere
  CHECK(pool.idle_connections() == 0);
}

TEST_CASE("an abandoned exchange closes its upstream connection and calls nothing back") {
  scripted_server server({{"", false, true}});
  gateway::upstream_pool pool(1);
  std::atomic<int> callbacks{0};
  gateway::upstream_handler h;
  h.on_head = [&](int, const std::string&) { ++callbacks; };
  h.on_data = [&](std::string, std::function<void()>) { ++callbacks; };
  h.on_end = [&] { ++callbacks; };
  h.on_error = [&](const std::string&, bool) { ++callbacks; };
  gateway::upstream_request req;
  req.target = "/v1/completions";
  req.body = R"({"model":"m","prompt":"hi"})";
  auto abandon = pool.send({"127.0.0.1", server.port(), ""}, req, 10s, h);
  for (int i = 0; i < 500 && server.requests().empty(); ++i)  // bounded wait for the request
    std::this_thread::sleep_for(10ms);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.hangups() == 0);  // the server is generating: the connection is open
  abandon();
  abandon();  // twice: harmless
  for (int i = 0; i < 500 && server.hangups() == 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(server.hangups() == 1);  // the upstream saw its connection closed, long before 10 s
  CHECK(callbacks == 0);
  CHECK(pool.idle_connections() == 0);
}
