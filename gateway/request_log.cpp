#include "gateway/request_log.hpp"

#include <cstdio>

#include "runtime/json_escape.hpp"

namespace inferstack::gateway {

namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", s);
  return buf;
}

/// Client-chosen text (a model name) may hold anything: quoted when it is not a plain word.
std::string text_value(const std::string& v) {
  if (v.empty()) return "-";
  bool plain = true;
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c >= 0x7f) plain = false;
  if (plain) return v;
  return "\"" + runtime::json_escape(v) + "\"";
}

}  // namespace

std::string render_request_record(const request_record& r, bool json) {
  std::string out;
  auto add_text = [&](const char* key, const std::string& value) {
    if (json) {
      if (!out.empty()) out += ',';
      out += '"';
      out += key;
      out += "\":\"";
      out += runtime::json_escape(value);
      out += '"';
    } else {
      if (!out.empty()) out += ' ';
      out += key;
      out += '=';
      out += text_value(value);
    }
  };
  auto add_number = [&](const char* key, const std::string& value) {
    if (!out.empty()) out += json ? ',' : ' ';
    if (json) out += '"';
    out += key;
    out += json ? "\":" : "=";
    out += value;
  };
  add_text("request_id", r.id);
  add_text("namespace", r.ns);
  add_text("model", r.model);
  add_text("pool", r.pool);
  add_text("pod", r.pod);
  add_number("status", std::to_string(r.status));
  if (r.prompt_tokens) add_number("prompt_tokens", std::to_string(*r.prompt_tokens));
  if (r.completion_tokens) add_number("completion_tokens", std::to_string(*r.completion_tokens));
  if (r.ttft_seconds) add_number("ttft_s", seconds_text(*r.ttft_seconds));
  add_number("duration_s", seconds_text(r.duration_seconds));
  add_number("attempts", std::to_string(r.attempts));
  return out;
}

}  // namespace inferstack::gateway
