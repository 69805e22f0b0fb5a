// HTTPS credentials; see tls.hpp.
#include "runtime/http/tls.hpp"

#include <stdexcept>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>

namespace inferstack::http {

namespace ssl = boost::asio::ssl;

namespace {

[[noreturn]] void openssl_failed(const char* what) {
  throw std::runtime_error(std::string("self-signed certificate: ") + what + " failed");
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

/// A server context with TLS 1.2 and newer only.
std::shared_ptr<ssl::context> new_context() {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  return ctx;
}

/// The key must be the certificate's: OpenSSL would otherwise fail each handshake instead.
void check_pair(ssl::context& ctx, const std::string& what) {
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    throw std::runtime_error(what + ": the private key does not match the certificate");
}

std::shared_ptr<ssl::context> load_files(const std::string& cert_file,
                                         const std::string& key_file) {
  auto ctx = new_context();
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) throw std::runtime_error("--ssl-certfile " + cert_file + ": " + ec.message());
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("--ssl-keyfile " + key_file + ": " + ec.message());
  check_pair(*ctx, cert_file + " and " + key_file);
  return ctx;
}

std::filesystem::file_time_type modified(const std::string& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type{} : t;
}

}  // namespace

pem_pair make_self_signed(const std::string& host) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) openssl_failed("key generation");
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!cert) openssl_failed("X509_new");
  X509_set_version(cert.get(), 2);  // v3, for the subjectAltName extension
  // A random serial: clients tell a renewed certificate by it.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
    openssl_failed("serial number");
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) openssl_failed("X509_set_pubkey");
  auto* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("inferstack"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  std::string alt = "DNS:" + host + ",IP:127.0.0.1,IP:::1";
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, alt.c_str());
  if (!ext) openssl_failed("subjectAltName");
  X509_add_ext(cert.get(), ext, -1);
  X509_EXTENSION_free(ext);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) openssl_failed("X509_sign");

  pem_pair out;
  std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1)
    openssl_failed("PEM encoding");
  out.cert = bio_text(cert_bio.get());
  out.key = bio_text(key_bio.get());
  return out;
}

std::shared_ptr<tls_credentials> tls_credentials::from_files(std::string cert_file,
                                                             std::string key_file) {
  auto c = std::make_shared<tls_credentials>();
  c->cert_time_ = modified(cert_file);
  c->key_time_ = modified(key_file);
  c->context_ = load_files(cert_file, key_file);
  c->cert_file_ = std::move(cert_file);
  c->key_file_ = std::move(key_file);
  return c;
}

std::shared_ptr<tls_credentials> tls_credentials::from_pem(const pem_pair& pem) {
  auto c = std::make_shared<tls_credentials>();
  c->context_ = new_context();
  try {
    c->context_->use_certificate_chain(boost::asio::buffer(pem.cert));
    c->context_->use_private_key(boost::asio::buffer(pem.key), ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(std::string("TLS certificate: ") + e.what());
  }
  check_pair(*c->context_, "TLS certificate");
  return c;
}

std::shared_ptr<ssl::context> tls_credentials::current() {
  std::lock_guard guard{mutex_};
  if (cert_file_.empty()) return context_;
  auto cert_time = modified(cert_file_), key_time = modified(key_file_);
  if (cert_time != cert_time_ || key_time != key_time_) {
    try {
      context_ = load_files(cert_file_, key_file_);
      cert_time_ = cert_time;  // not on failure: the next connection tries again
      key_time_ = key_time;
    } catch (const std::exception&) {
      // Half-replaced (a new key beside the old certificate): keep serving the old pair.
    }
  }
  return context_;
}

}  // namespace inferstack::http
