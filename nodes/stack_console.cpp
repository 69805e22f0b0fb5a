#include "nodes/stack_console.hpp"

#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <caf/event_based_actor.hpp>

#include "nodes/debug_picks.hpp"
#include "nodes/signals.hpp"
#include "protocol/type_ids.hpp"

namespace inferstack::nodes {

decltype(ui::console_sources::ask_picks) remote_picks(std::map<std::string, caf::actor> pickers,
                                                      size_t limit,
                                                      std::chrono::milliseconds timeout) {
  return [pickers = std::move(pickers), limit, timeout](
             caf::event_based_actor* self,
             std::function<void(nlohmann::json, std::vector<std::string>)> done) {
    // What the answers gather; the last one in (answer or failure) hands it on.
    struct asked {
      size_t pending = 0;
      std::vector<actors::picker::pick_decision> decisions;
      std::vector<std::string> errors;
      std::function<void(nlohmann::json, std::vector<std::string>)> done;
    };
    auto a = std::make_shared<asked>();
    a->pending = pickers.size();
    a->done = std::move(done);
    auto complete = [a, limit] {
      if (--a->pending > 0) return;
      a->done(nlohmann::json::parse(decisions_json(std::move(a->decisions), limit)),
              std::move(a->errors));
    };
    if (pickers.empty()) {
      a->pending = 1;
      return complete();
    }
    actors::picker::recent_picks ask{static_cast<uint32_t>(limit), ""};
    for (const auto& [pool, picker] : pickers)
      self->request(picker, timeout, ask)
          .then(
              [a, complete](actors::picker::pick_decisions& got) {
                for (auto& d : got.decisions)
                  a->decisions.push_back(std::move(d));
                complete();
              },
              [a, complete, self, pool = pool](caf::error& err) {
                a->errors.push_back("picker " + pool + ": " + self->system().render(err));
                complete();
              });
  };
}

std::vector<std::pair<int64_t, int64_t>> file_stamps(const std::vector<std::string>& files) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& f : files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0)
      out.emplace_back(static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                       static_cast<int64_t>(st.st_size));
    else
      out.emplace_back(-1, -1);
  }
  return out;
}

void print_welcome(const stack_process& stack, const std::string& config_file, double startup_ms) {
  const auto& config = stack.config();
  auto url = stack.url();
  std::ostringstream out;
  out << "inferstack " << (stack.pods().empty() ? "gateway: " : "dev: ");
  if (!stack.pods().empty()) out << stack.pods().size() << " pods, ";
  out << config.inference_pools.size() << " pools, " << config.http_routes.size() << " routes from "
      << config_file << ", ready in " << static_cast<int>(startup_ms) << " ms\n";
  out << "  OpenAI API: " << url << "/v1\n";
  if (!stack.admin_url().empty())
    out << "  admin: " << stack.admin_url() << "   metrics: " << stack.admin_url()
        << "/metrics   (admin token file " << stack.admin_token_file() << ")\n";
  // The console's page takes the read token from the URL's fragment, which no server sees; the
  // shell reads it from its file, so it is not shown here.
  if (!stack.admin_url().empty() && stack.console() && !stack.admin_read_token_file().empty())
    out << "  console: " << stack.admin_url() << "/ui   (open: xdg-open \"" << stack.admin_url()
        << "/ui#token=$(cat " << stack.admin_read_token_file()
        << ")\"; in a terminal: inferstack top)\n";
  auto keys = stack.key_expressions();
  // One example per routed model, with its namespace's Host and key.
  for (const auto& route : config.http_routes) {
    std::string model;
    for (const auto& rule : route.rules)
      for (const auto& m : rule.matches)
        for (const auto& h : m.headers)
          if (h.type == "Exact") model = h.value;
    if (model.empty()) continue;
    const auto& ns = route.meta.namespace_;
    std::string auth;
    if (auto key = keys.find(ns); key != keys.end())
      auth = " -H \"Authorization: Bearer " + key->second + "\"";
    out << "  " << ns << " / " << model << ":\n    curl -s " << url
        << "/v1/chat/completions -H \"Host: " << ns << ".gw.example.com\"" << auth
        << " -H \"Content-Type: application/json\" -d '{\"model\":\"" << model
        << "\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n";
  }
  std::cout << out.str() << std::flush;
}

int serve_until_stopped(stack_process& stack, const std::vector<std::string>& files,
                        const common_options& common, spdlog::logger& log) {
  auto stamps = file_stamps(stack.key_files());
  for (;;) {
    int sig = wait_signal(std::chrono::milliseconds(1000));
    if (sig == 0) {
      if (file_stamps(stack.key_files()) != stamps) {
        log.info("a key file changed: reloading keys");
        stack.reload_keys();
        stamps = file_stamps(stack.key_files());
      }
      continue;
    }
    if (sig != SIGHUP) {
      log.info("signal {}: shutting down", sig);
      return sig;
    }
    log.info("SIGHUP: reloading keys and routes from {}", files.front());
    if (auto fresh = load_stack(files, common)) {
      stack.reload(std::move(*fresh));
      stamps = file_stamps(stack.key_files());
    } else {
      log.error("the new configuration has problems; keeping the running one");
    }
  }
}

}  // namespace inferstack::nodes
