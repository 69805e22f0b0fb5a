#include "runtime/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "runtime/json_escape.hpp"

namespace inferstack::runtime {

namespace {

/// %J: the log message as an escaped JSON string body.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto escaped = json_escape(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(log_format format) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (format == log_format::json) {
    f->add_flag<json_message_flag>('J').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n","msg":"%J"})");
  } else {
    f->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  return f;
}

}  // namespace

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn" || text == "warning") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  if (text == "critical") return spdlog::level::critical;
  if (text == "off") return spdlog::level::off;
  return std::nullopt;
}

std::optional<log_format> parse_log_format(std::string_view text) {
  if (text == "text") return log_format::text;
  if (text == "json") return log_format::json;
  return std::nullopt;
}

std::shared_ptr<spdlog::logger> make_root_logger(const log_settings& settings, std::string name) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(make_formatter(settings.format));
  auto logger = std::make_shared<spdlog::logger>(std::move(name), sink);
  logger->set_level(settings.level);
  logger->flush_on(spdlog::level::warn);
  return logger;
}

std::shared_ptr<spdlog::logger> component_logger(const std::shared_ptr<spdlog::logger>& root,
                                                 const std::string& component) {
  auto logger = root->clone(component);
  return logger;
}

access_logger make_access_logger(const std::shared_ptr<spdlog::logger>& root, log_format format) {
  access_logger out{root->clone("access"), format == log_format::json};
  if (out.json) {
    // The payload is the object's members, already JSON.
    out.log->set_formatter(std::make_unique<spdlog::pattern_formatter>(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%v})"));
  }
  return out;
}

}  // namespace inferstack::runtime
