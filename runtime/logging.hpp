// Logging through spdlog, as text for people or JSON lines for log pipelines. Loggers are made
// here once and passed to components; nothing uses spdlog's global registry.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace inferstack::runtime {

enum class log_format { text, json };

struct log_settings {
  spdlog::level::level_enum level = spdlog::level::info;
  log_format format = log_format::text;
};

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);
std::optional<log_format> parse_log_format(std::string_view text);

/// The process's root logger, writing to stderr.
std::shared_ptr<spdlog::logger> make_root_logger(const log_settings& settings,
                                                 std::string name = "inferstack");

/// A logger for one component, sharing the root's sinks, level and format.
std::shared_ptr<spdlog::logger> component_logger(const std::shared_ptr<spdlog::logger>& root,
                                                 const std::string& component);

/// The access log: one line per request, as key=value text, or in JSON mode as a JSON object
/// whose members the caller writes (`"id":"...","status":200`), beside ts, level and logger.
struct access_logger {
  std::shared_ptr<spdlog::logger> log;
  bool json = false;
};

access_logger make_access_logger(const std::shared_ptr<spdlog::logger>& root, log_format format);

}  // namespace inferstack::runtime
