// Key files for CurveZMQ: made with libzmq, written atomically, read back as the allow-list.
#include "runtime/curve_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include <zmq.h>

namespace inferstack::runtime {

namespace {

namespace fs = std::filesystem;

constexpr size_t z85_key_size = 40;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

std::string read_key_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text = trimmed(std::move(text));
  uint8_t binary[32];
  if (text.size() != z85_key_size || !zmq_z85_decode(binary, text.c_str()))
    throw std::runtime_error(path.string() + " does not hold a Z85 CURVE key");
  return text;
}

std::string public_of(const std::string& secret, const fs::path& where) {
  char pub[z85_key_size + 1];
  if (zmq_curve_public(pub, secret.c_str()) != 0)
    throw std::runtime_error("cannot derive the public key of " + where.string());
  return pub;
}

/// Writes `text` to a temporary file in `dir` with `mode`, returns its path.
fs::path write_temp(const fs::path& dir, const std::string& text, mode_t mode) {
  std::random_device rd;
  auto path = dir / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot write " + path.string() + ": " + strerror(errno));
  auto line = text + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fchmod(fd, mode) == 0 && ok;  // the umask does not loosen or tighten it
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    throw std::runtime_error("cannot write " + path.string());
  }
  return path;
}

void ensure_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::create_directories(dir, ec)) fs::permissions(dir, fs::perms::owner_all, ec);
  if (!fs::is_directory(dir)) throw std::runtime_error("no key directory " + dir.string());
}

}  // namespace

curve_keypair make_curve_keypair() {
  char pub[z85_key_size + 1], sec[z85_key_size + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error("libzmq cannot make CURVE keys (built without libsodium?)");
  return {pub, sec};
}

curve_keypair write_curve_keypair(const std::string& dir, const std::string& name) {
  fs::path d{dir};
  ensure_dir(d);
  auto keys = make_curve_keypair();
  auto secret = write_temp(d, keys.secret_key, 0600);
  auto pub = write_temp(d, keys.public_key, 0644);
  // The secret first: a .pub never names a key whose secret is not there yet.
  fs::rename(secret, d / (name + ".key"));
  fs::rename(pub, d / (name + ".pub"));
  return keys;
}

curve_keypair load_or_create_curve_keypair(const std::string& dir, const std::string& name) {
  fs::path d{dir};
  auto key_path = d / (name + ".key");
  auto pub_path = d / (name + ".pub");
  if (!fs::exists(key_path)) {
    ensure_dir(d);
    auto fresh = make_curve_keypair();
    auto temp = write_temp(d, fresh.secret_key, 0600);
    // link() fails if the name exists: of processes starting together, one key wins.
    ::link(temp.c_str(), key_path.c_str());
    ::unlink(temp.c_str());
  }
  curve_keypair keys;
  keys.secret_key = read_key_file(key_path);
  keys.public_key = public_of(keys.secret_key, key_path);
  std::string on_disk;
  try {
    on_disk = read_key_file(pub_path);
  } catch (const std::exception&) {
  }
  if (on_disk != keys.public_key) {
    try {  // best effort: a read-only Secret mount may carry the .key alone
      auto temp = write_temp(d, keys.public_key, 0644);
      fs::rename(temp, pub_path);
    } catch (const std::exception&) {
    }
  }
  return keys;
}

std::vector<std::string> read_allowed_curve_keys(const std::string& dir) {
  std::vector<std::string> keys;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const auto& path = entry.path();
    if (path.extension() != ".pub" || path.stem() == "stack") continue;
    try {
      keys.push_back(read_key_file(path));
    } catch (const std::exception&) {
    }
  }
  return keys;
}

void make_curve_server(zmq::socket_t& socket, const zmq_curve_settings& curve) {
  socket.set(zmq::sockopt::curve_server, 1);
  socket.set(zmq::sockopt::curve_secretkey, curve.server_secret_key);
  socket.set(zmq::sockopt::zap_domain, "inferstack");
}

void make_curve_client(zmq::socket_t& socket, const zmq_curve_settings& curve) {
  socket.set(zmq::sockopt::curve_serverkey, curve.server_public_key);
  socket.set(zmq::sockopt::curve_publickey, curve.public_key);
  socket.set(zmq::sockopt::curve_secretkey, curve.secret_key);
}

curve_zap_handler::curve_zap_handler(zmq::context_t& ctx, const zmq_curve_settings& curve)
    : zap_(ctx, zmq::socket_type::rep),
      allowed_(curve.allowed_clients.begin(), curve.allowed_clients.end()),
      reload_(curve.reload_allowed) {
  zap_.set(zmq::sockopt::linger, 0);
  zap_.bind("inproc://zeromq.zap.01");
}

// [version, request id, domain, address, identity, mechanism, credentials...] in,
// [version, request id, status code, status text, user id, metadata] out.
std::vector<std::string> curve_zap_handler::answer() {
  std::vector<std::string> refused;
  for (int budget = 0; budget < 256; ++budget) {
    std::vector<zmq::message_t> parts;
    zmq::message_t part;
    if (!zap_.recv(part, zmq::recv_flags::dontwait)) break;
    bool more = part.more();
    parts.push_back(std::move(part));
    while (more) {
      zmq::message_t next;
      if (!zap_.recv(next, zmq::recv_flags::dontwait)) break;
      more = next.more();
      parts.push_back(std::move(next));
    }
    std::string key;
    if (parts.size() >= 7 && parts[5].to_string_view() == "CURVE" && parts[6].size() == 32) {
      char z85[41];
      if (zmq_z85_encode(z85, static_cast<const uint8_t*>(parts[6].data()), 32)) key = z85;
    }
    bool ok = !key.empty() && allowed_.count(key);
    if (!ok && !key.empty() && reload_) {
      auto fresh = reload_();
      allowed_ = std::set<std::string>(fresh.begin(), fresh.end());
      ok = allowed_.count(key) > 0;
    }
    if (!ok)
      refused.push_back("client key " + (key.empty() ? std::string{"(none)"} : key) +
                        " is not on the allow-list" +
                        (parts.size() > 3 ? " (from " + parts[3].to_string() + ")" : ""));
    auto frame = [&](size_t i) { return i < parts.size() ? parts[i].to_string() : ""; };
    std::string reply[] = {
        "1.0", frame(1), ok ? "200" : "400", ok ? "OK" : "client key not allowed", key, ""};
    for (size_t i = 0; i < 6; ++i)
      (void)zap_.send(zmq::buffer(reply[i]),
                      i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  return refused;
}

zmq_curve_settings curve_settings_from_dir(const std::string& dir, const std::string& role) {
  auto stack = load_or_create_curve_keypair(dir, "stack");
  auto own = load_or_create_curve_keypair(dir, role);
  zmq_curve_settings s;
  s.public_key = own.public_key;
  s.secret_key = own.secret_key;
  s.server_public_key = stack.public_key;
  s.server_secret_key = stack.secret_key;
  s.allowed_clients = read_allowed_curve_keys(dir);
  s.reload_allowed = [dir] { return read_allowed_curve_keys(dir); };
  return s;
}

}  // namespace inferstack::runtime
