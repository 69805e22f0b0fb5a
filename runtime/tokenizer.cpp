#include "runtime/tokenizer.hpp"

namespace inferstack::runtime {

namespace {

// The single characters of the simulator's regex alternation, before \w+.
bool is_punctuation(unsigned char c) {
  switch (c) {
    case '{':
    case '}':
    case ':':
    case ',':
    case '-':
    case '.':
    case '?':
    case '!':
    case ';':
    case '@':
    case '#':
    case '$':
    case '%':
    case '^':
    case '&':
    case '*':
    case '(':
    case ')':
    case '+':
    case '_':
    case '~':
    case '/':
    case '\\':
    case '>':
    case '<':
    case '[':
    case ']':
    case '=':
    case '"':
    case '\'':
      return true;
    default:
      return false;
  }
}

// Go's \w and \s are ASCII-only.
bool is_word(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

template <class F>
void for_each_token(std::string_view text, F&& emit) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t start = i;
    // Leftmost-first alternation: a punctuation character (the '_' alternative included)
    // wins over \w+ at the same position.
    if (is_punctuation(c)) {
      ++i;
    } else if (is_word(c)) {
      while (i < n && is_word(static_cast<unsigned char>(text[i])))
        ++i;
    } else {
      ++i;  // no match here: the regex scan moves on
      continue;
    }
    while (i < n && is_space(static_cast<unsigned char>(text[i])))
      ++i;
    emit(text.substr(start, i - start));
  }
}

}  // namespace

uint32_t fnv1a_32(std::string_view data) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

std::vector<std::string_view> split_tokens(std::string_view text) {
  std::vector<std::string_view> out;
  for_each_token(text, [&](std::string_view t) { out.push_back(t); });
  return out;
}

void tokenize_into(std::string_view text, std::vector<uint32_t>& out) {
  for_each_token(text, [&](std::string_view t) { out.push_back(fnv1a_32(t)); });
}

std::vector<uint32_t> tokenize(std::string_view text) {
  std::vector<uint32_t> out;
  out.reserve(text.size() / 4 + 1);
  tokenize_into(text, out);
  return out;
}

std::string flatten_chat(const std::vector<chat_turn>& messages) {
  std::string out;
  for (const auto& m : messages) {
    out += "### ";
    out += m.role;
    out += ": ";
    out += m.content;
    out += "\n";
  }
  return out;
}

}  // namespace inferstack::runtime
