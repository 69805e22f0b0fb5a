// `inferstack keys --dir DIR [--role NAME ...]`: the CurveZMQ keys of the multi-process stack
// (the scheme is in runtime/curve_keys.hpp). Keeps keys that exist unless --force.
#include <algorithm>
#include <iostream>

#include "nodes/commands.hpp"
#include "runtime/curve_keys.hpp"

namespace inferstack::nodes {

int run_keys(const keys_options& options, const common_options&) {
  auto roles = options.roles;
  if (roles.empty()) roles = {"gateway", "picker", "control", "pod"};
  // The stack's server identity comes with every set of role keys.
  if (std::find(roles.begin(), roles.end(), "stack") == roles.end())
    roles.insert(roles.begin(), "stack");
  try {
    for (const auto& role : roles) {
      auto keys = options.force ? runtime::write_curve_keypair(options.dir, role)
                                : runtime::load_or_create_curve_keypair(options.dir, role);
      std::cout << role << " " << keys.public_key << "  " << options.dir << "/" << role << ".key\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "keys: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace inferstack::nodes
