// HTTPS for the HTTP server (`run pod --ssl-certfile/--ssl-keyfile` or `--self-signed-certs`, as
// llm-d-inference-sim): the TLS context a new connection is served with. Certificate files are
// read again when they change on disk (a renewed certificate takes effect for new connections,
// as the simulator's reloader does); a pair that does not load (a key renamed before its
// certificate) keeps the previous context until it does.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace inferstack::http {

/// A certificate and its private key, PEM.
struct pem_pair {
  std::string cert;
  std::string key;
};

/// A self-signed certificate for `host` (CN and subjectAltName, with 127.0.0.1 and ::1 beside),
/// valid for a year, on a new P-256 key. Throws std::runtime_error on an OpenSSL failure.
pem_pair make_self_signed(const std::string& host = "localhost");

class tls_credentials {
 public:
  /// Files read now (throws std::runtime_error naming the file if they do not load) and again
  /// whenever their modification time changes.
  static std::shared_ptr<tls_credentials> from_files(std::string cert_file, std::string key_file);
  /// Fixed PEM text (a self-signed pair made at start). Throws if it does not load.
  static std::shared_ptr<tls_credentials> from_pem(const pem_pair& pem);

  /// The context for a new connection; thread-safe. Checks the files first (two stat calls).
  std::shared_ptr<boost::asio::ssl::context> current();

 private:
  std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::string cert_file_, key_file_;  ///< empty: fixed PEM
  std::filesystem::file_time_type cert_time_{}, key_time_{};
};

}  // namespace inferstack::http
