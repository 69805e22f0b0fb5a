// The admin listener: its address checked, its tokens loaded, its requests let through by scope.
#include "nodes/admin_listener.hpp"

#include <atomic>
#include <filesystem>

#include "nodes/admin_routes.hpp"
#include "openai/api_error.hpp"

namespace inferstack::nodes {

admin_listener::admin_listener(admin_listener_settings settings, admin_listener_handlers handlers)
    : settings_(std::move(settings)), handlers_(std::move(handlers)) {}

void admin_listener::start(std::vector<std::string>& problems) {
  const auto& listen = settings_.listen;
  if (listen.empty()) return;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    problems.push_back("admin listener: expected host:port, got '" + listen + "'");
    return;
  }
  auto host = listen.substr(0, colon);
  if (!is_loopback_host(host) && !settings_.allow_remote) {
    problems.push_back("admin listener " + listen +
                       ": not a loopback address; the admin API (/control, /pods, /metrics) "
                       "is off there unless asked for (InferenceGateway spec.adminAllowRemote: "
                       "true, or --admin-allow-remote)");
    return;
  }
  access_ = std::make_unique<admin_access>(settings_.tokens);
  for (auto& p : access_->load())
    problems.push_back(p);
  http::server_settings hs;
  hs.address = host;
  try {
    hs.port = static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)));
  } catch (const std::exception&) {
    problems.push_back("admin listener: bad port in '" + listen + "'");
    return;
  }
  hs.io_threads = 1;
  hs.server_name = "inferstack-admin";
  hs.error_body = openai::error_body;
  hs.log = settings_.log;
  hs.registry = settings_.registry;
  server_ = std::make_unique<http::server>(hs, [this](std::shared_ptr<http::exchange> ex) {
    if (serve(ex)) return;
    ex->respond(http::status::not_found, openai::error_body(404, "no such route"),
                "application/json");
  });
  try {
    server_->start();
  } catch (const std::exception& e) {
    problems.push_back("admin listener " + listen + ": " + e.what());
    server_.reset();
  }
}

void admin_listener::stop() {
  if (server_) server_->stop();
  server_.reset();
}

std::string admin_listener::url() const {
  if (!server_) return "";
  auto host = settings_.listen.substr(0, settings_.listen.rfind(':'));
  return "http://" + host + ":" + std::to_string(server_->port());
}

std::string admin_listener::token_file() const {
  if (!access_) return "";
  auto files = access_->files();
  if (files.empty()) return "";
  std::error_code ec;
  return std::filesystem::absolute(files.front(), ec).string();
}

std::string admin_listener::read_token_file() const {
  if (!access_) return "";
  auto files = access_->files();
  if (files.size() < 2) return "";
  std::error_code ec;
  return std::filesystem::absolute(files[1], ec).string();
}

void admin_listener::reload_tokens() {
  if (!access_) return;
  for (auto& p : access_->load())
    settings_.log->warn("admin tokens: {}", p);
}

std::vector<std::string> admin_listener::token_files() const {
  return access_ ? access_->files() : std::vector<std::string>{};
}

bool admin_listener::serve(const std::shared_ptr<http::exchange>& ex) {
  auto target = http::to_std(ex->req().target());
  auto path = std::string(target.substr(0, target.find('?')));
  if (path == "/metrics" && handlers_.before_metrics) handlers_.before_metrics();
  if (needs_admin_token(path)) {
    namespace bhttp = boost::beast::http;
    const auto& req = ex->req();
    auto auth = req.find(bhttp::field::authorization);
    auto scope = access_ ? access_->scope_of(auth == req.end() ? std::string_view{}
                                                               : http::to_std(auth->value()))
                         : admin_scope::none;
    if (scope == admin_scope::none) {
      ex->respond(http::status::unauthorized,
                  openai::error_body(401,
                                     "the admin API needs an admin token (Authorization: "
                                     "Bearer <token>; inferstack get/scale --token-file)"),
                  "application/json", {{"www-authenticate", "Bearer"}});
      return true;
    }
    bool reads = req.method() == bhttp::verb::get || req.method() == bhttp::verb::head;
    if (!reads && scope != admin_scope::admin) {
      ex->respond(http::status::forbidden,
                  openai::error_body(403,
                                     "this token may only read (GET); changes need "
                                     "the admin token"),
                  "application/json");
      return true;
    }
  }
  std::atomic<bool> ready = handlers_.ready && handlers_.ready();
  if (serve_admin(ex, *settings_.registry, ready)) return true;
  return handlers_.routes && handlers_.routes(ex, path);
}

}  // namespace inferstack::nodes
