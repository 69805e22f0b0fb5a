// CurveZMQ keys of the multi-process stack: the files `inferstack keys` writes and roles load.
//
// The scheme, chosen because it is simple and still authenticates every connection:
// - One "stack" keypair (DIR/stack.key, DIR/stack.pub) is the server identity of every socket
//   that binds (ROUTER, PUB) in one stack. A connecting socket must know its server's public key
//   before it connects, and roles reach each other at addresses learnt at run time (pods come
//   and go, their addresses arrive in membership messages); one server key for the stack means
//   no address-to-key directory to keep in step. Every role holds the stack secret.
// - Each role has its own client keypair (DIR/<role>.key, DIR/<role>.pub; pods share "pod",
//   pickers share "picker"). A binding socket accepts a client only if its public key is on the
//   allow-list: every DIR/*.pub except stack.pub, re-read when an unknown key knocks (so a role
//   whose key was made after we started is let in, and deleting a .pub revokes a role).
// What it buys: traffic between roles is encrypted; nobody without a role key on the allow-list
// gets a single frame to our actors; nobody without the stack secret can pose as a server. A
// holder of the stack secret can serve as any role, so a leaked role secret means a new stack
// key too (run `inferstack keys` again and restart).
// Files: <name>.key holds the Z85 secret key (mode 0600), <name>.pub the Z85 public key.
#pragma once

#include <set>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "runtime/zmq_transport.hpp"

namespace inferstack::runtime {

struct curve_keypair {
  std::string public_key;  ///< Z85, 40 characters
  std::string secret_key;
};

/// A fresh keypair from libzmq (libsodium underneath); throws if libzmq has no CURVE.
curve_keypair make_curve_keypair();

/// Reads DIR/NAME.key, and creates DIR/NAME.key (0600) and DIR/NAME.pub when it is missing.
/// Safe when several processes start at once: the first file linked in place wins, the others
/// read it. Creates DIR (0700) if needed. Throws std::runtime_error on a bad or unreadable file.
curve_keypair load_or_create_curve_keypair(const std::string& dir, const std::string& name);

/// Writes a fresh DIR/NAME.key and DIR/NAME.pub, replacing old ones (`inferstack keys --force`).
curve_keypair write_curve_keypair(const std::string& dir, const std::string& name);

/// The allow-list: the public keys in DIR/*.pub except stack.pub. Unreadable files are skipped.
std::vector<std::string> read_allowed_curve_keys(const std::string& dir);

/// Everything a role's transport needs: its own keypair and the stack keypair (each made when
/// missing) and the allow-list, re-read from DIR when an unknown client key shows up.
zmq_curve_settings curve_settings_from_dir(const std::string& dir, const std::string& role);

/// A socket that binds (ROUTER, PUB): a CURVE server with the stack's key, its clients vetted by
/// the context's ZAP handler.
void make_curve_server(zmq::socket_t& socket, const zmq_curve_settings& curve);
/// A socket that connects (DEALER, SUB): a CURVE client with the role's own key.
void make_curve_client(zmq::socket_t& socket, const zmq_curve_settings& curve);

/// The ZAP handler (RFC 27) of one ZeroMQ context: libzmq asks it about every client of a CURVE
/// server socket. Make it before any such socket exists, poll socket() from the thread that
/// owns it and call answer() when it is readable. It admits a CURVE client whose public key is
/// on the allow-list (asking `reload_allowed` again for an unknown key), nobody else.
class curve_zap_handler {
 public:
  curve_zap_handler(zmq::context_t& ctx, const zmq_curve_settings& curve);
  zmq::socket_t& socket() { return zap_; }
  /// Answers the requests waiting; returns what it refused, one line per client.
  std::vector<std::string> answer();

 private:
  zmq::socket_t zap_;
  std::set<std::string> allowed_;
  std::function<std::vector<std::string>()> reload_;
};

}  // namespace inferstack::runtime
