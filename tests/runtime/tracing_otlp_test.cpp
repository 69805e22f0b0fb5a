// The OTLP/HTTP JSON exporter: the encoding field by field against OTLP's JSON mapping, the
// bounded buffer, the collector address, and whole exports to a receiver on 127.0.0.1.
#include <catch2/catch.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "runtime/tracing/otlp_exporter.hpp"
#include "runtime/tracing/otlp_json.hpp"

using namespace inferstack::tracing;
using json = nlohmann::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto bounded_wait = std::chrono::seconds(10);

trace_id example_trace() {
  return parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")->trace;
}

span named_span(std::string name, uint8_t last_id_byte = 1) {
  span s;
  s.trace = example_trace();
  s.id = {0, 0, 0, 0, 0, 0, 0, last_id_byte};
  s.name = std::move(name);
  s.kind = span_kind::server;
  s.start_unix_nano = 1700000000000000000ULL;
  s.end_unix_nano = 1700000000250000000ULL;
  return s;
}

/// The value of counter `name` with label reason=`reason` (empty: no label) in `registry`.
double counter_value(prometheus::Registry& registry, const std::string& name,
                     const std::string& reason = "") {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      bool match = reason.empty() ? metric.label.empty()
                                  : metric.label.size() == 1 && metric.label[0].value == reason;
      if (match) return metric.counter.value;
    }
  }
  return -1;
}

/// A tiny OTLP/HTTP receiver on 127.0.0.1: records each request and answers with the statuses
/// given, in order, then 200.
class otlp_receiver {
 public:
  struct received {
    std::string method, target, content_type, body;
  };

  explicit otlp_receiver(std::deque<unsigned> statuses = {}) : statuses_(std::move(statuses)) {
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~otlp_receiver() {
    ioc_.stop();
    thread_.join();
  }

  std::string endpoint() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port());
  }

  /// Waits (bounded) until `count` requests came; all received so far.
  std::vector<received> wait_for(size_t count) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, bounded_wait, [&] { return got_.size() >= count; });
    return got_;
  }

 private:
  struct session : std::enable_shared_from_this<session> {
    session(tcp::socket s, otlp_receiver& r) : socket(std::move(s)), receiver(r) {}
    tcp::socket socket;
    otlp_receiver& receiver;
    beast::flat_buffer buffer;
    bhttp::request<bhttp::string_body> req;
    bhttp::response<bhttp::string_body> res;

    void read() {
      req = {};
      bhttp::async_read(
          socket, buffer, req, [self = shared_from_this()](beast::error_code ec, size_t) {
            if (ec) return;
            self->res = {self->receiver.record(self->req), 11};
            self->res.set(bhttp::field::content_type, "application/json");
            self->res.body() = "{}";
            self->res.keep_alive(self->req.keep_alive());
            self->res.prepare_payload();
            bhttp::async_write(self->socket, self->res, [self](beast::error_code ec, size_t) {
              if (!ec) self->read();
            });
          });
    }
  };

  bhttp::status record(const bhttp::request<bhttp::string_body>& req) {
    std::lock_guard lock(mutex_);
    got_.push_back({std::string(req.method_string()), std::string(req.target()),
                    std::string(req[bhttp::field::content_type]), req.body()});
    cv_.notify_all();
    if (statuses_.empty()) return bhttp::status::ok;
    auto status = statuses_.front();
    statuses_.pop_front();
    return static_cast<bhttp::status>(status);
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<session>(std::move(socket), *this)->read();
      accept();
    });
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_{ioc_, {net::ip::make_address("127.0.0.1"), 0}};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<received> got_;
  std::deque<unsigned> statuses_;
  std::thread thread_;
};

/// Spans of an OTLP JSON body, checked to be one resource and one scope.
json spans_of(const std::string& body) {
  auto parsed = json::parse(body);
  REQUIRE(parsed["resourceSpans"].size() == 1);
  REQUIRE(parsed["resourceSpans"][0]["scopeSpans"].size() == 1);
  return parsed["resourceSpans"][0]["scopeSpans"][0]["spans"];
}

exporter_settings settings_for(const std::string& endpoint) {
  exporter_settings s;
  s.endpoint = endpoint;
  add(s.resource, "service.name", "inferstack-test");
  s.max_delay = std::chrono::minutes(10);  // only a full batch or the shutdown sends
  s.timeout = std::chrono::seconds(5);
  s.retry_backoff = std::chrono::milliseconds(1);
  return s;
}

}  // namespace

TEST_CASE("otlp json: every field as OTLP's JSON mapping writes it") {
  span s = named_span("POST /v1/chat/completions");
  s.parent = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  s.id = {0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8};
  s.tracestate = "rojo=00f067aa0ba902b7";
  add(s.attributes, "http.request.method", "POST");
  add(s.attributes, "gen_ai.usage.input_tokens", 1234);
  add(s.attributes, "big", std::numeric_limits<int64_t>::min());
  add(s.attributes, "score", 0.75);
  add(s.attributes, "cache.hit", true);
  add(s.attributes, "odd", std::numeric_limits<double>::quiet_NaN());
  s.events.push_back({"first token", 1700000000100000000ULL, {}});
  add(s.events.back().attributes, "tokens", 1);
  s.status = status_code::error;
  s.status_message = "pod failed";
  attribute_list resource;
  add(resource, "service.name", "inferstack");

  auto body = json::parse(encode_otlp_json(resource, {s}));
  auto& rs = body["resourceSpans"];
  REQUIRE(rs.size() == 1);
  CHECK(rs[0]["resource"]["attributes"] ==
        json::parse(R"([{"key":"service.name","value":{"stringValue":"inferstack"}}])"));
  REQUIRE(rs[0]["scopeSpans"].size() == 1);
  CHECK(rs[0]["scopeSpans"][0]["scope"]["name"] == "inferstack");
  auto& spans = rs[0]["scopeSpans"][0]["spans"];
  REQUIRE(spans.size() == 1);
  auto& j = spans[0];
  CHECK(j["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(j["spanId"] == "53995c3f42cd8ad8");
  CHECK(j["parentSpanId"] == "00f067aa0ba902b7");
  CHECK(j["traceState"] == "rojo=00f067aa0ba902b7");
  CHECK(j["name"] == "POST /v1/chat/completions");
  CHECK(j["kind"] == 2);  // SPAN_KIND_SERVER
  CHECK(j["startTimeUnixNano"] == "1700000000000000000");
  CHECK(j["endTimeUnixNano"] == "1700000000250000000");
  auto& a = j["attributes"];
  REQUIRE(a.size() == 6);
  CHECK(a[0] == json::parse(R"({"key":"http.request.method","value":{"stringValue":"POST"}})"));
  CHECK(a[1] == json::parse(R"({"key":"gen_ai.usage.input_tokens","value":{"intValue":"1234"}})"));
  CHECK(a[2]["value"]["intValue"] == "-9223372036854775808");
  CHECK(a[3] == json::parse(R"({"key":"score","value":{"doubleValue":0.75}})"));
  CHECK(a[4] == json::parse(R"({"key":"cache.hit","value":{"boolValue":true}})"));
  CHECK(a[5]["value"]["doubleValue"] == "NaN");
  REQUIRE(j["events"].size() == 1);
  CHECK(j["events"][0]["name"] == "first token");
  CHECK(j["events"][0]["timeUnixNano"] == "1700000000100000000");
  CHECK(j["events"][0]["attributes"][0]["value"]["intValue"] == "1");
  CHECK(j["status"] == json::parse(R"({"code":2,"message":"pod failed"})"));
}

TEST_CASE("otlp json: a root span has no parentSpanId, an unset status is empty") {
  attribute_list resource;
  add(resource, "service.name", "inferstack");
  span s = named_span("root");
  s.kind = span_kind::client;
  auto spans = spans_of(encode_otlp_json(resource, {s, named_span("second", 2)}));
  REQUIRE(spans.size() == 2);
  CHECK_FALSE(spans[0].contains("parentSpanId"));
  CHECK_FALSE(spans[0].contains("traceState"));
  CHECK_FALSE(spans[0].contains("events"));
  CHECK(spans[0]["kind"] == 3);  // SPAN_KIND_CLIENT
  CHECK(spans[0]["status"] == json::object());
  CHECK(spans[1]["spanId"] == "0000000000000002");
}

TEST_CASE(
    "otlp json: times as decimal strings -- zeros within the nanoseconds, seconds that change") {
  // The encoder keeps the last seconds' digits per thread and writes the nanoseconds in groups:
  // each time below must still read as std::to_string writes it, in any order.
  const uint64_t times[] = {1700000000000000007ULL,
                            1700000000000000000ULL,
                            1700000001000000000ULL,
                            1700000000999999999ULL,
                            1700000000012345678ULL,
                            1000000000ULL,
                            999999999ULL,
                            0ULL,
                            7ULL,
                            10000000000000000000ULL,
                            std::numeric_limits<uint64_t>::max(),
                            1700000001000100000ULL};
  for (uint64_t start : times) {
    span s = named_span("t");
    s.start_unix_nano = start;
    s.end_unix_nano = start / 7 * 3;
    s.events.push_back({"e", start ^ 0x5a5a5aULL, {}});
    auto j = spans_of(encode_otlp_json({}, {s}));
    REQUIRE(j.size() == 1);
    CHECK(j[0]["startTimeUnixNano"] == std::to_string(start));
    CHECK(j[0]["endTimeUnixNano"] == std::to_string(start / 7 * 3));
    CHECK(j[0]["events"][0]["timeUnixNano"] == std::to_string(start ^ 0x5a5a5aULL));
  }
}

TEST_CASE("otlp json: strings of every length up to 40, with a byte to escape anywhere") {
  // Plain text is copied in words; whatever the length and wherever a quote, a control
  // character or a non-ASCII byte falls, the string reads back as it was.
  for (size_t n = 0; n <= 40; ++n) {
    std::string plain;
    for (size_t i = 0; i < n; ++i)
      plain += static_cast<char>('a' + i % 26);
    for (size_t at = 0; at <= n; ++at) {
      for (char odd : {'"', '\\', '\n', '\x7f', static_cast<char>(0xc3)}) {
        bool lead = odd == static_cast<char>(0xc3);  // with 0xa9 after it: U+00E9
        if (lead && at + 1 >= n) continue;
        std::string text = plain;
        if (at < n) text[at] = odd;
        if (lead) text[at + 1] = static_cast<char>(0xa9);
        span s = named_span(text);
        add(s.attributes, attribute_key(std::string(text)), text);
        auto j = spans_of(encode_otlp_json({}, {s}));
        REQUIRE(j.size() == 1);
        CHECK(j[0]["name"] == text);
        CHECK(j[0]["attributes"][0]["key"] == text);
        CHECK(j[0]["attributes"][0]["value"]["stringValue"] == text);
      }
    }
  }
}

TEST_CASE("otlp json: attribute text that is not UTF-8 is replaced, not thrown on") {
  span s = named_span("bad");
  add(s.attributes, "model", std::string("caf\xC3", 4));
  auto spans = spans_of(encode_otlp_json({}, {s}));
  CHECK(spans[0]["attributes"][0]["value"]["stringValue"] == "caf\xEF\xBF\xBD");
}

TEST_CASE("otlp json: quotes, control characters, no spans, a status message alone") {
  span s = named_span("say \"hi\"\n\tnow");
  // A name with a quote is a string (a literal holding one does not compile): escaped.
  add(s.attributes, std::string("k\"ey"), "v\\al\x01ue");
  add(s.attributes, "ratio", 1e-4);
  s.status_message = "why";
  attribute_list resource;
  add(resource, "service.name", "a\"b");
  auto body = json::parse(encode_otlp_json(resource, {s}));
  CHECK(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] == "a\"b");
  auto& j = body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  CHECK(j["name"] == "say \"hi\"\n\tnow");
  CHECK(j["attributes"][0]["key"] == "k\"ey");
  CHECK(j["attributes"][0]["value"]["stringValue"] == "v\\al\x01ue");
  CHECK(j["attributes"][1]["value"]["doubleValue"] == 1e-4);
  CHECK(j["status"] == json::parse(R"({"message":"why"})"));
  auto empty = json::parse(encode_otlp_json(resource, {}));
  CHECK(empty["resourceSpans"][0]["scopeSpans"][0]["spans"] == json::array());
}

TEST_CASE("otlp json: a name given as a string is the span's own copy, a literal is kept") {
  span s = named_span("keys");
  {
    std::string name = "inferstack.score.";
    name += "prefix-cache";
    add(s.attributes, name, 0.5);
    name.assign(name.size(), 'x');  // the caller's string changes, then goes
  }
  add(s.attributes, "inferstack.outcome", "ok");
  auto moved = std::move(s);  // spans move into the exporter's buffer
  auto spans = spans_of(encode_otlp_json({}, {moved}));
  CHECK(spans[0]["attributes"][0]["key"] == "inferstack.score.prefix-cache");
  CHECK(spans[0]["attributes"][1]["key"] == "inferstack.outcome");
  CHECK(moved.attributes[1].key == "inferstack.outcome");
}

TEST_CASE("otlp json: an attribute list is its JSON as added -- grown, copied, moved, read back") {
  // The list keeps the attributes' OTLP JSON in a buffer of its own, written as each is added:
  // past its first room it grows (realloc), a copy owns its text, a moved-from list is empty.
  attribute_list list;
  CHECK(list.empty());
  CHECK(list.json().empty());
  std::string long_value(300, 'v');
  long_value[150] = '"';
  for (int i = 0; i < 40; ++i)
    add(list, attribute_key("key." + std::to_string(i)), i);
  add(list, "text", long_value);
  add(list, "ratio", 1e-5);
  add(list, "inf", -std::numeric_limits<double>::infinity());
  add(list, "nan", std::numeric_limits<double>::quiet_NaN());
  add(list, "on", false);
  add(list, "min", std::numeric_limits<int64_t>::min());
  REQUIRE(list.size() == 46);
  auto parsed = json::parse("[" + std::string(list.json()) + "]");
  REQUIRE(parsed.size() == 46);
  CHECK(parsed[39] == json::parse(R"({"key":"key.39","value":{"intValue":"39"}})"));
  CHECK(parsed[40]["value"]["stringValue"] == long_value);

  attribute_list copy = list;
  add(list, "after", "the copy");  // the original grows on; the copy does not see it
  CHECK(copy.size() == 46);
  CHECK(list.size() == 47);
  CHECK(std::string(list.json()).rfind(std::string(copy.json()), 0) == 0);

  auto back = copy.decoded();
  REQUIRE(back.size() == 46);
  CHECK(back[7].key == "key.7");
  CHECK(std::get<int64_t>(back[7].value) == 7);
  CHECK(std::get<std::string>(back[40].value) == long_value);
  CHECK(std::get<double>(back[41].value) == 1e-5);
  CHECK(std::get<double>(back[42].value) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(std::get<double>(back[43].value)));
  CHECK(std::get<bool>(back[44].value) == false);
  CHECK(std::get<int64_t>(back[45].value) == std::numeric_limits<int64_t>::min());
  CHECK(copy[41].key == "ratio");

  attribute_list moved = std::move(copy);
  CHECK(moved.size() == 46);
  CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): a moved-from list is empty
  CHECK(copy.json().empty());
  copy = moved;  // assigned again: its own text
  add(moved, "later", 1);
  CHECK(copy.size() == 46);
  CHECK(copy.decoded().back().key == "min");
}

TEST_CASE("otlp json: a value added in pieces is the same text as the pieces joined") {
  // Each piece is escaped on its own; meeting at an ASCII separator, they read as one string --
  // a piece's broken UTF-8 tail or head included.
  const std::string pieces[][2] = {{"default", "bench-pool"},
                                   {"", ""},
                                   {"ns\"q\"", "a\\b\n"},
                                   {std::string("caf\xC3", 4), std::string("\xA9t\xE2\x82", 4)},
                                   {std::string(40, 'n'), "\xC3\xA9t\xC3\xA9"}};
  for (const auto& p : pieces) {
    attribute_list joined, piecewise;
    add(joined, "inferstack.pool", p[0] + "/" + p[1]);
    add_joined(piecewise, "inferstack.pool", p[0], "/", p[1]);
    CHECK(piecewise.json() == joined.json());
    CHECK(piecewise.size() == 1);
  }
}

TEST_CASE("otlp json: doubles written as std::to_chars's shortest round trip writes them") {
  // Durations (nanoseconds / 1e9) take a faster path than other doubles: every value below
  // must read exactly as std::to_chars writes it -- fixed or scientific, whichever is shorter.
  std::vector<double> values = {
      0.75,    1,           0.5,        1e-4,  1e-9,    2e-9,      123.456, 1e5,  999999.999999999,
      0.1,     0.000012345, 1.2345e-05, 100,   1234567, 1e6,       0,       -0.0, -2.5,
      1.0 / 3, 5e-324,      1e300,      0.001, 0.0001,  12345678.9};
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {  // splitmix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  uint64_t powers[16] = {1};
  for (int i = 1; i < 16; ++i)
    powers[i] = powers[i - 1] * 10;
  for (int i = 0; i < 200000; ++i) {
    uint64_t ns = next() % powers[1 + next() % 15];  // 1 to 15 digits
    ns -= ns % powers[next() % 10];                  // and zeros at its end
    values.push_back(static_cast<double>(ns) / 1e9);
    double bits;
    uint64_t raw = next();
    std::memcpy(&bits, &raw, sizeof bits);
    if (std::isfinite(bits)) values.push_back(bits);
    values.push_back(static_cast<double>(next() % 1000000) / 1000.0);
  }
  for (double v : values) {
    attribute_list list;
    add(list, "d", v);
    char expected[64];
    auto end = std::to_chars(expected, expected + sizeof expected, v).ptr;
    std::string want = R"({"key":"d","value":{"doubleValue":)" + std::string(expected, end) + "}}";
    if (list.json() != want) FAIL_CHECK(list.json() << " for " << want);
  }
}

TEST_CASE("collector endpoint: host, port and the /v1/traces path") {
  std::string error;
  auto plain = parse_collector_endpoint("http://127.0.0.1:4318", error);
  REQUIRE(plain);
  CHECK(plain->host == "127.0.0.1");
  CHECK(plain->port == 4318);
  CHECK(plain->path == "/v1/traces");
  auto prefixed = parse_collector_endpoint("http://collector/otlp/", error);
  REQUIRE(prefixed);
  CHECK(prefixed->host == "collector");
  CHECK(prefixed->port == 80);
  CHECK(prefixed->path == "/otlp/v1/traces");
  auto v6 = parse_collector_endpoint("http://[::1]:4318", error);
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  for (const char* bad : {"https://collector:4318", "collector:4318", "http://:4318",
                          "http://host:0", "http://host:70000", "http://host:43a8", ""}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(parse_collector_endpoint(bad, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("span buffer: full, a span is dropped and counted, oldest taken first") {
  prometheus::Registry registry;
  auto& dropped = prometheus::BuildCounter().Name("dropped").Register(registry).Add({});
  const std::string opening = "{\"spans\":[";
  span_buffer buffer(3, dropped, opening);
  // A span's JSON as the exporter pushes it; the buffer only joins them.
  auto json_of = [](int i) { return "{\"n\":" + std::to_string(i) + "}"; };
  size_t held = 0;
  for (int i = 1; i <= 3; ++i) {
    CHECK(buffer.push(json_of(i), &held));
    CHECK(held == static_cast<size_t>(i));
  }
  CHECK_FALSE(buffer.push(json_of(4), &held));
  CHECK_FALSE(buffer.push(json_of(5)));
  CHECK(held == 3);
  CHECK(dropped.Value() == 2);
  std::string body = "left from the batch before";
  CHECK(buffer.take(body, 2) == 2);
  CHECK(body == opening + json_of(1) + "," + json_of(2));
  CHECK(buffer.size() == 1);
  CHECK(buffer.push(json_of(6)));
  CHECK(buffer.take(body, 10) == 2);
  CHECK(body == opening + json_of(3) + "," + json_of(6));
  CHECK(dropped.Value() == 2);
  // Taking every span hands the buffer's text over whole: it is empty, the bound still 3.
  CHECK(buffer.size() == 0);
  CHECK(buffer.take(body, 10) == 0);
  CHECK(body == opening);
  for (int i = 7; i <= 9; ++i)
    CHECK(buffer.push(json_of(i)));
  CHECK_FALSE(buffer.push(json_of(10)));
  CHECK(dropped.Value() == 3);
  CHECK(buffer.take(body, 3) == 3);
  CHECK(body == opening + json_of(7) + "," + json_of(8) + "," + json_of(9));
  // A backlog taken a span at a time keeps the order, and what is left is valid after a cut.
  for (int i = 11; i <= 13; ++i)
    CHECK(buffer.push(json_of(i)));
  CHECK(buffer.take(body, 1) == 1);
  CHECK(body == opening + json_of(11));
  CHECK(buffer.push(json_of(14)));
  CHECK(buffer.take(body, 1) == 1);
  CHECK(body == opening + json_of(12));
  CHECK(buffer.take(body, 5) == 2);
  CHECK(body == opening + json_of(13) + "," + json_of(14));
}

TEST_CASE("otlp json: a body joined from spans encoded one by one is the whole encoding") {
  attribute_list resource;
  add(resource, "service.name", "inferstack");
  span first = named_span("first", 1), second = named_span("second", 2);
  add(first.attributes, "inferstack.outcome", "ok");
  std::string joined = otlp_json_opening(resource);
  append_span_json(joined, first);
  joined += ',';
  append_span_json(joined, second);
  joined += otlp_json_closing;
  CHECK(joined == encode_otlp_json(resource, {first, second}));
  CHECK(json::parse(joined)["resourceSpans"][0]["scopeSpans"][0]["spans"].size() == 2);
}

TEST_CASE("otlp exporter: a full batch is POSTed to a local receiver as OTLP JSON") {
  otlp_receiver receiver;
  prometheus::Registry registry;
  {
    auto settings = settings_for(receiver.endpoint());
    settings.max_batch = 3;
    otlp_exporter exporter(settings, registry);
    for (uint8_t i = 1; i <= 3; ++i)
      CHECK(exporter.submit(named_span("request " + std::to_string(i), i)));
    auto got = receiver.wait_for(1);
    REQUIRE(got.size() == 1);
    CHECK(got[0].method == "POST");
    CHECK(got[0].target == "/v1/traces");
    CHECK(got[0].content_type == "application/json");
    auto body = json::parse(got[0].body);
    CHECK(body["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"] ==
          "inferstack-test");
    auto spans = spans_of(got[0].body);
    REQUIRE(spans.size() == 3);
    CHECK(spans[0]["name"] == "request 1");
    CHECK(spans[2]["spanId"] == "0000000000000003");
  }
  CHECK(counter_value(registry, "inferstack_trace_spans_exported_total") == 3);
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "queue_full") == 0);
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "export_failed") == 0);
}

TEST_CASE("otlp exporter: spans short of a batch go out after max_delay") {
  otlp_receiver receiver;
  prometheus::Registry registry;
  auto settings = settings_for(receiver.endpoint());
  settings.max_batch = 100;
  settings.max_delay = std::chrono::milliseconds(20);
  otlp_exporter exporter(settings, registry);
  CHECK(exporter.submit(named_span("alone")));
  auto got = receiver.wait_for(1);
  REQUIRE(got.size() == 1);
  auto spans = spans_of(got[0].body);
  REQUIRE(spans.size() == 1);
  CHECK(spans[0]["name"] == "alone");
}

TEST_CASE("otlp exporter: a full buffer drops and counts, and shutdown sends what it held") {
  otlp_receiver receiver;
  prometheus::Registry registry;
  {
    auto settings = settings_for(receiver.endpoint());
    settings.max_queue = 2;
    settings.max_batch = 100;  // nothing is sent before the shutdown
    otlp_exporter exporter(settings, registry);
    CHECK(exporter.submit(named_span("kept", 1)));
    CHECK(exporter.submit(named_span("kept", 2)));
    CHECK_FALSE(exporter.submit(named_span("dropped", 3)));
    CHECK_FALSE(exporter.submit(named_span("dropped", 4)));
    CHECK_FALSE(exporter.submit(named_span("dropped", 5)));
    CHECK(exporter.spans_dropped() == 3);
  }
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "queue_full") == 3);
  auto got = receiver.wait_for(1);
  REQUIRE(got.size() == 1);
  auto spans = spans_of(got[0].body);
  REQUIRE(spans.size() == 2);
  CHECK(spans[0]["name"] == "kept");
  CHECK(counter_value(registry, "inferstack_trace_spans_exported_total") == 2);
}

TEST_CASE("otlp exporter: a batch answered 503 is sent again, the same body") {
  otlp_receiver receiver({503, 429});
  prometheus::Registry registry;
  {
    auto settings = settings_for(receiver.endpoint());
    settings.max_batch = 2;
    settings.max_attempts = 3;
    otlp_exporter exporter(settings, registry);
    exporter.submit(named_span("a", 1));
    exporter.submit(named_span("b", 2));
    auto got = receiver.wait_for(3);
    REQUIRE(got.size() == 3);
    CHECK(got[0].body == got[1].body);
    CHECK(got[1].body == got[2].body);
  }
  CHECK(counter_value(registry, "inferstack_trace_spans_exported_total") == 2);
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "export_failed") == 0);
}

TEST_CASE("otlp exporter: a 400 is final -- the batch is dropped and counted once") {
  otlp_receiver receiver({400, 400, 400});
  prometheus::Registry registry;
  {
    auto settings = settings_for(receiver.endpoint());
    settings.max_batch = 2;
    otlp_exporter exporter(settings, registry);
    exporter.submit(named_span("a", 1));
    exporter.submit(named_span("b", 2));
    REQUIRE(receiver.wait_for(1).size() == 1);
  }
  CHECK(receiver.wait_for(0).size() == 1);  // no second try
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "export_failed") == 2);
  CHECK(counter_value(registry, "inferstack_trace_spans_exported_total") == 0);
}

TEST_CASE("otlp exporter: with no collector listening, the bounded attempts end in a drop") {
  // A port that was free a moment ago: connections are refused at once.
  uint16_t port = 0;
  {
    net::io_context ioc;
    tcp::acceptor probe(ioc, {net::ip::make_address("127.0.0.1"), 0});
    port = probe.local_endpoint().port();
  }
  prometheus::Registry registry;
  {
    auto settings = settings_for("http://127.0.0.1:" + std::to_string(port));
    settings.max_batch = 1;
    settings.max_attempts = 2;
    otlp_exporter exporter(settings, registry);
    CHECK(exporter.submit(named_span("lost")));
  }
  CHECK(counter_value(registry, "inferstack_trace_spans_dropped_total", "export_failed") == 1);
  CHECK(counter_value(registry, "inferstack_trace_spans_exported_total") == 0);
}
