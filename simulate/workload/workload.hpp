// A workload: the requests a simulation's virtual clients send, in arrival order. Every source
// (trace files, inference-perf configs) loads into this one shape, so the virtual clients and
// the report know nothing of where the requests came from.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace inferstack::simulate {

/// One request before it is sent.
struct workload_request {
  std::chrono::nanoseconds arrival{0};  ///< since the workload's start
  std::string ns;                       ///< namespace (the Host's subdomain); empty: the default
  std::string model;                    ///< empty: the scenario's default model
  bool chat = false;                    ///< /v1/chat/completions, else /v1/completions
  bool stream = false;
  std::string prompt;          ///< the prompt's text, when the source has one
  uint32_t prompt_tokens = 0;  ///< the prompt's length, when the source gives a count only
  /// Shared prefix blocks, in order: equal ids are equal blocks of prefix_block_tokens tokens
  /// (Mooncake's hash_ids, 512-token blocks).
  std::vector<uint64_t> prefix_blocks;
  uint32_t prefix_block_tokens = 0;
  std::string shared_prefix;  ///< requests with the same id share their prompt's prefix
  /// Requests with the same non-zero id send the same text after their prefix blocks
  /// (inference-perf's questions, asked again and again); 0: a text of the request's own.
  uint64_t prompt_id = 0;
  uint32_t max_tokens = 0;  ///< output tokens asked for
  bool ignore_eos = false;  ///< generate exactly max_tokens (inference-perf's server.ignore_eos)
  std::string session;      ///< session id, for session affinity
  /// More request headers, as a client sends them: a tenant's fairness id
  /// (x-llm-d-inference-fairness-id), an InferenceObjective (x-llm-d-inference-objective),
  /// latency objectives (x-llm-d-slo-ttft-ms), ...
  std::vector<std::pair<std::string, std::string>> headers;
  /// The client hangs up this long after sending (a client timeout, a user who gives up);
  /// 0: it waits for the whole answer.
  std::chrono::nanoseconds cancel_after{0};

  bool operator==(const workload_request&) const = default;
};

struct workload {
  std::vector<workload_request> requests;  ///< sorted by arrival
};

/// A workload file that cannot be read: names the file, the line (0: the file as a whole) and
/// the field, so what() reads "FILE:LINE: FIELD: what is wrong".
class workload_error : public std::runtime_error {
 public:
  workload_error(std::string file, size_t line, std::string field, const std::string& problem)
      : std::runtime_error(describe(file, line, field, problem)),
        file_(std::move(file)),
        line_(line),
        field_(std::move(field)) {}

  const std::string& file() const { return file_; }
  size_t line() const { return line_; }
  const std::string& field() const { return field_; }

 private:
  static std::string describe(const std::string& file, size_t line, const std::string& field,
                              const std::string& problem) {
    std::string out = file;
    if (line > 0) {
      out += ':';  // appended piece by piece: GCC 12 warns falsely on ":" + std::string
      out += std::to_string(line);
    }
    out += ": ";
    if (!field.empty()) {
      out += field;
      out += ": ";
    }
    out += problem;
    return out;
  }

  std::string file_;
  size_t line_;
  std::string field_;
};

}  // namespace inferstack::simulate
