// The access log of the gateway: one line per request when it ends (as nginx and vLLM write
// one), so an operator can follow a request by its id through every role's debug lines too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace inferstack::gateway {

struct request_record {
  std::string id;
  std::string ns;
  std::string model;
  std::string pool;  ///< "<ns>/<name>", empty when the request never reached a pool
  std::string pod;
  int status = 0;
  std::optional<int64_t> prompt_tokens;  ///< known when a pod of this process answered
  std::optional<int64_t> completion_tokens;
  std::optional<double> ttft_seconds;
  double duration_seconds = 0;
  int attempts = 0;
};

/// key=value text (`id=... ns=... status=200 ...`), or JSON object members when `json`.
std::string render_request_record(const request_record& r, bool json);

}  // namespace inferstack::gateway
