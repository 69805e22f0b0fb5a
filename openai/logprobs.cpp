// Synthetic logprobs; see logprobs.hpp.
#include "openai/logprobs.hpp"

#include <algorithm>
#include <charconv>

#include "runtime/json_escape.hpp"

namespace inferstack::openai {

using runtime::append_json_int;
using runtime::append_json_string;

namespace {

void append_double(std::string& out, double value) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out.append(buf, end);
}

// The k-th alternative of `token` ("<token>_<k>"); the sampled token itself for k = 0.
void append_alternative(std::string& out, std::string_view token, int k) {
  std::string alt(token);
  if (k > 0) {
    alt += '_';
    alt += std::to_string(k);
  }
  append_json_string(out, alt);
}

void append_bytes(std::string& out, std::string_view token, int k) {
  out += '[';
  bool first = true;
  auto one = [&](unsigned char c) {
    if (!first) out += ',';
    first = false;
    append_json_int(out, c);
  };
  for (char c : token)
    one(static_cast<unsigned char>(c));
  if (k > 0) {
    one('_');
    for (char c : std::to_string(k))
      one(static_cast<unsigned char>(c));
  }
  out += ']';
}

// {"token","logprob","bytes"} of alternative k of the token at `position`, without the '}'.
void append_chat_entry_fields(std::string& out, std::string_view token, size_t position, int k) {
  out += R"({"token":)";
  append_alternative(out, token, k);
  out += R"(,"logprob":)";
  append_double(out, synthetic_logprob(position, k));
  out += R"(,"bytes":)";
  append_bytes(out, token, k);
}

}  // namespace

double synthetic_logprob(size_t position, int alternative) {
  return -1.0 - static_cast<double>(position % 3) * 0.1 - static_cast<double>(alternative) * 0.5;
}

void append_chat_logprobs(std::string& out, const std::vector<std::string_view>& tokens,
                          size_t first_position, int top) {
  out += R"({"content":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    const size_t position = first_position + i;
    append_chat_entry_fields(out, tokens[i], position, 0);
    out += R"(,"top_logprobs":[)";
    for (int k = 0; k < top; ++k) {
      if (k) out += ',';
      append_chat_entry_fields(out, tokens[i], position, k);
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
}

void append_completion_logprobs(std::string& out, const std::vector<std::string_view>& tokens,
                                size_t first_position, int top, size_t first_offset) {
  out += R"({"text_offset":[)";
  size_t offset = first_offset;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    append_json_int(out, static_cast<int64_t>(offset));
    offset += tokens[i].size();
  }
  out += R"(],"token_logprobs":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    append_double(out, synthetic_logprob(first_position + i, 0));
  }
  out += R"(],"tokens":[)";
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, tokens[i]);
  }
  out += R"(],"top_logprobs":[)";
  const int entries = std::max(top, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ',';
    out += '{';
    for (int k = 0; k < entries; ++k) {
      if (k) out += ',';
      append_alternative(out, tokens[i], k);
      out += ':';
      append_double(out, synthetic_logprob(first_position + i, k));
    }
    out += '}';
  }
  out += "]}";
}

}  // namespace inferstack::openai
