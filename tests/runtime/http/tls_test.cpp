// HTTPS on the HTTP server: a self-signed certificate made with OpenSSL serves requests and is
// trusted by a client that pins it (name localhost checked); certificate files renewed on disk
// apply to new connections, and a half-renewed pair keeps the old one. Real sockets on
// 127.0.0.1, every read bounded by socket timeouts.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include <openssl/x509.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "runtime/http/http_server.hpp"
#include "runtime/http/tls.hpp"

using namespace inferstack;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

namespace {

std::unique_ptr<http::server> https_server(std::shared_ptr<http::tls_credentials> tls) {
  http::server_settings s;
  s.error_body = [](int, const std::string& m) { return "{\"error\":\"" + m + "\"}"; };
  s.tls = std::move(tls);
  auto server = std::make_unique<http::server>(s, [](std::shared_ptr<http::exchange> ex) {
    ex->respond(http::status::ok, "hello over tls", "text/plain");
  });
  server->start();
  return server;
}

struct answer {
  std::string text;       ///< the whole response as read (until the server closed)
  std::string serial;     ///< the server certificate's serial number, hex
  bool verified = false;  ///< the handshake passed verification against `trusted`
};

/// One GET over TLS; `trusted`: the only certificate the client trusts (empty: no verification).
answer get_over_tls(uint16_t port, const std::string& trusted = {}) {
  net::io_context io;
  ssl::context ctx(ssl::context::tls_client);
  if (!trusted.empty()) {
    ctx.add_certificate_authority(net::buffer(trusted));
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  ssl::stream<tcp::socket> stream(io, ctx);
  stream.next_layer().connect({net::ip::make_address("127.0.0.1"), port});
  timeval tv{5, 0};  // bounded: a hung server fails the test instead of the test hanging
  ::setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(stream.next_layer().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (!trusted.empty()) stream.set_verify_callback(ssl::host_name_verification("localhost"));
  answer out;
  boost::system::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return out;
  out.verified = !trusted.empty();
  if (X509* cert = SSL_get1_peer_certificate(stream.native_handle())) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
    char* hex = BN_bn2hex(bn);
    out.serial = hex;
    OPENSSL_free(hex);
    BN_free(bn);
    X509_free(cert);
  }
  std::string req = "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  net::write(stream, net::buffer(req), ec);
  char buf[4096];
  for (;;) {
    size_t n = stream.read_some(net::buffer(buf), ec);
    out.text.append(buf, n);
    if (ec) break;
  }
  return out;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE(
    "http server over TLS: a self-signed certificate serves HTTPS and verifies as localhost") {
  auto pem = http::make_self_signed();
  CHECK(pem.cert.find("-----BEGIN CERTIFICATE-----") == 0);
  CHECK(pem.key.find("PRIVATE KEY-----") != std::string::npos);
  auto server = https_server(http::tls_credentials::from_pem(pem));
  auto a = get_over_tls(server->port(), pem.cert);
  CHECK(a.verified);
  CHECK(a.text.find("HTTP/1.1 200 OK") == 0);
  CHECK(a.text.find("hello over tls") != std::string::npos);
  // another self-signed certificate is another one (its own key and serial): not trusted
  auto other = http::make_self_signed();
  CHECK(other.cert != pem.cert);
  CHECK_FALSE(get_over_tls(server->port(), other.cert).verified);
  server->stop();
}

TEST_CASE("http server over TLS: renewed certificate files apply to new connections") {
  auto dir = std::filesystem::temp_directory_path() /
             ("inferstack-tls-" + std::to_string(::getpid()) + "-" +
              std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  auto cert = dir / "tls.crt", key = dir / "tls.key";
  auto first = http::make_self_signed();
  write_file(cert, first.cert);
  write_file(key, first.key);
  auto server = https_server(http::tls_credentials::from_files(cert.string(), key.string()));
  auto before = get_over_tls(server->port());
  REQUIRE(before.text.find("200 OK") != std::string::npos);
  REQUIRE_FALSE(before.serial.empty());

  // The key renamed first: a mismatched pair for a moment, and the old one keeps serving.
  auto second = http::make_self_signed();
  write_file(dir / "tls.key.tmp", second.key);
  std::filesystem::rename(dir / "tls.key.tmp", key);
  // File times have a coarse grain on some file systems: make the change visible whatever it is.
  std::filesystem::last_write_time(key,
                                   std::filesystem::last_write_time(key) + std::chrono::seconds(1));
  auto half = get_over_tls(server->port());
  CHECK(half.text.find("200 OK") != std::string::npos);
  CHECK(half.serial == before.serial);

  write_file(dir / "tls.crt.tmp", second.cert);
  std::filesystem::rename(dir / "tls.crt.tmp", cert);
  std::filesystem::last_write_time(
      cert, std::filesystem::last_write_time(cert) + std::chrono::seconds(1));
  auto after = get_over_tls(server->port(), second.cert);
  CHECK(after.verified);
  CHECK(after.text.find("200 OK") != std::string::npos);
  CHECK(after.serial != before.serial);
  server->stop();
  std::filesystem::remove_all(dir);
}

TEST_CASE("http server over TLS: files that do not load are refused at start, naming them") {
  auto pem = http::make_self_signed();
  auto other = http::make_self_signed();
  auto dir =
      std::filesystem::temp_directory_path() / ("inferstack-tls-bad-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  write_file(dir / "c.pem", pem.cert);
  write_file(dir / "k.pem", other.key);
  CHECK_THROWS_WITH(
      http::tls_credentials::from_files((dir / "missing.pem").string(), (dir / "k.pem").string()),
      Catch::Contains("--ssl-certfile") && Catch::Contains("missing.pem"));
  CHECK_THROWS_WITH(
      http::tls_credentials::from_files((dir / "c.pem").string(), (dir / "k.pem").string()),
      Catch::Contains("--ssl-keyfile") && Catch::Contains("mismatch"));
  std::filesystem::remove_all(dir);
}
