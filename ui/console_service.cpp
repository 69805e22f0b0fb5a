// The console's routes: the embedded page, one snapshot, and the snapshot streamed as SSE.
#include "ui/console_service.hpp"

#include <chrono>
#include <map>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "protocol/type_ids.hpp"

namespace inferstack::ui {

namespace {

namespace nm = actors::node_mocker;
namespace ctl = actors::controller;
using json = nlohmann::json;
constexpr auto ask_timeout = std::chrono::seconds(2);
constexpr auto event_interval = std::chrono::seconds(1);
/// A client this far behind gets no new event until it has read the queued ones.
constexpr size_t max_queued_bytes = 256 * 1024;

/// The parts of a snapshot being gathered, shared by the asking actor's handlers.
struct gathering {
  snapshot_inputs inputs;
  std::shared_ptr<const config::stack_config> config;  ///< kept while inputs point to it
  std::function<json()> recent_picks;
  decltype(console_sources::ask_picks) ask_picks;
  actors::scaler::scaler_actor scaler;
  std::shared_ptr<const void> core;  ///< holds the history below (and inputs.history)
  set_history* history = nullptr;
  std::function<void(json)> done;
  int64_t now_ms = 0;
};

void finish(caf::event_based_actor* self, const std::shared_ptr<gathering>& g) {
  if (g->recent_picks) g->inputs.picks = g->recent_picks();
  if (g->ask_picks) {  // pickers elsewhere: asked last, then finish again without them
    auto ask = std::move(g->ask_picks);
    g->ask_picks = nullptr;
    ask(self, [self, g](json picks, std::vector<std::string> errors) {
      g->inputs.picks = std::move(picks);
      for (auto& e : errors)
        g->inputs.errors.push_back(std::move(e));
      finish(self, g);
    });
    return;
  }
  g->done(build_snapshot(g->inputs, g->now_ms));
  self->quit();
}

/// The pods' figures from the load reports the scaler holds (no prefix-cache counts in them).
void ask_scaler(caf::event_based_actor* self, const std::shared_ptr<gathering>& g) {
  if (g->inputs.figures || !g->scaler) return finish(self, g);
  self->request(g->scaler, ask_timeout, actors::scaler::pod_loads_query{})
      .then(
          [self, g](actors::scaler::pod_loads& loads) {
            auto by_pod = std::make_shared<std::map<std::string, pod_figures>>();
            for (const auto& r : loads.reports)
              (*by_pod)[r.pod] = {static_cast<double>(r.waiting),
                                  static_cast<double>(r.running),
                                  r.kv_usage,
                                  0,
                                  0,
                                  false};
            g->inputs.figures = [by_pod](const std::string& pod) -> std::optional<pod_figures> {
              auto it = by_pod->find(pod);
              if (it == by_pod->end()) return std::nullopt;
              return it->second;
            };
            finish(self, g);
          },
          [self, g](caf::error& err) {
            g->inputs.errors.push_back("scaler: " + self->system().render(err));
            finish(self, g);
          });
}

void ask_controller(caf::event_based_actor* self, const ctl::controller_actor& controller,
                    std::shared_ptr<gathering> g) {
  auto finish = [self, g] { ask_scaler(self, g); };
  if (!controller) return finish();
  self->request(controller, ask_timeout, ctl::set_status_query{})
      .then(
          [g, finish](ctl::set_status_list& l) {
            // Recorded too: the history holds what any snapshot shows (a repeat is ignored by
            // its version).
            for (const auto& s : l.sets)
              g->history->record(s, g->now_ms);
            g->inputs.sets = std::move(l);
            finish();
          },
          [self, g, finish](caf::error& err) {
            g->inputs.errors.push_back("controller: " + self->system().render(err));
            finish();
          });
}

}  // namespace

struct console_service::core {
  caf::actor_system& system;
  console_sources sources;
  std::shared_ptr<const config::stack_config> config;
  std::mutex config_mutex;
  set_history history;
  std::atomic<bool> stopping{false};

  core(caf::actor_system& sys, console_sources s)
      : system(sys),
        sources(std::move(s)),
        config(std::make_shared<const config::stack_config>(std::move(sources.config))) {}

  std::shared_ptr<const config::stack_config> current_config() {
    std::lock_guard guard{config_mutex};
    return config;
  }

  /// Asks the node mocker, then the controller; builds the snapshot with what answered.
  static void gather(const std::shared_ptr<core>& self_core, std::function<void(json)> done) {
    auto g = std::make_shared<gathering>();
    g->config = self_core->current_config();
    g->inputs.config = g->config.get();
    g->inputs.figures = self_core->sources.figures;
    g->inputs.history = &self_core->history;
    g->history = &self_core->history;
    g->core = self_core;
    g->recent_picks = self_core->sources.recent_picks;
    g->ask_picks = self_core->sources.ask_picks;
    g->scaler = self_core->sources.scaler;
    g->done = std::move(done);
    g->now_ms = self_core->sources.now_ms();
    auto c = self_core;
    c->system.spawn([c, g](caf::event_based_actor* self) {
      auto controller = c->sources.controller;
      if (!c->sources.mocker) return ask_controller(self, controller, g);
      self->request(c->sources.mocker, ask_timeout, nm::cluster_query{})
          .then(
              [self, controller, g](nm::cluster_snapshot& s) {
                g->inputs.cluster = std::move(s);
                ask_controller(self, controller, g);
              },
              [self, controller, g](caf::error& err) {
                g->inputs.errors.push_back("node mocker: " + self->system().render(err));
                ask_controller(self, controller, g);
              });
    });
  }
};

console_service::console_service(caf::actor_system& system, console_sources sources)
    : core_(std::make_shared<core>(system, std::move(sources))) {
  auto c = core_;
  recorder_ = system.spawn([c](caf::event_based_actor*) -> caf::behavior {
    return {[c](const ctl::set_status& s) { c->history.record(s, c->sources.now_ms()); }};
  });
  // The statuses published before the recorder listened: asked once, so every set's line
  // starts now (a late one is recognised by its version).
  if (auto controller = c->sources.controller) {
    auto recorder = recorder_;
    system.spawn([controller, recorder](caf::event_based_actor* self) {
      self->request(controller, ask_timeout, ctl::set_status_query{})
          .then(
              [self, recorder](ctl::set_status_list& list) {
                for (auto& s : list.sets)
                  caf::anon_send(recorder, s);
                self->quit();
              },
              [self](caf::error&) { self->quit(); });
    });
  }
}

console_service::~console_service() {
  stop();
}

void console_service::stop() {
  core_->stopping.store(true);
  if (recorder_) caf::anon_send_exit(recorder_, caf::exit_reason::user_shutdown);
  recorder_ = nullptr;
}

void console_service::reload(config::stack_config config) {
  auto fresh = std::make_shared<const config::stack_config>(std::move(config));
  std::lock_guard guard{core_->config_mutex};
  core_->config = std::move(fresh);
}

void console_service::gather(std::function<void(json)> done) {
  core::gather(core_, std::move(done));
}

bool console_service::serve(const std::shared_ptr<http::exchange>& ex, const std::string& path) {
  if (path != "/ui" && path != "/ui/" && path != "/ui/snapshot" && path != "/ui/events")
    return false;
  namespace bhttp = boost::beast::http;
  if (ex->req().method() != bhttp::verb::get) {
    ex->respond(http::status::method_not_allowed, R"({"error":{"message":"GET only"}})",
                "application/json", {{"allow", "GET"}});
    return true;
  }
  if (path == "/ui" || path == "/ui/") {
    ex->respond(http::status::ok, console_page(), "text/html; charset=utf-8",
                {{"cache-control", "no-store"}});
    return true;
  }
  if (path == "/ui/snapshot") {
    gather([ex](json j) { ex->respond(http::status::ok, j.dump(), "application/json"); });
    return true;
  }
  // /ui/events: one actor per client sends a snapshot at once, then every second, until the
  // client goes or the stack stops.
  ex->start_stream(http::status::ok, "text/event-stream; charset=utf-8",
                   {{"cache-control", "no-store"}});
  auto c = core_;
  auto streamer = c->system.spawn([c, ex](caf::event_based_actor* self) -> caf::behavior {
    return {[c, self, ex](atoms::tick_atom) {
      if (c->stopping.load() || ex->aborted()) {
        ex->finish();
        self->quit();
        return;
      }
      if (ex->queued_bytes() < max_queued_bytes)
        core::gather(c, [ex](json j) { ex->write("event: snapshot\ndata: " + j.dump() + "\n\n"); });
      self->delayed_send(self, event_interval, atoms::tick_atom_v);
    }};
  });
  ex->on_abort([streamer] { caf::anon_send_exit(streamer, caf::exit_reason::user_shutdown); });
  caf::anon_send(streamer, atoms::tick_atom_v);
  return true;
}

}  // namespace inferstack::ui
