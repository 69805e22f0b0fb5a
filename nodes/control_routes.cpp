#include "nodes/control_routes.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <nlohmann/json.hpp>

namespace inferstack::nodes {

namespace {

namespace nm = actors::node_mocker;
namespace ctl = actors::controller;
using json = nlohmann::json;

json to_json(const nm::cluster_snapshot& s, bool pods) {
  json out = json::object();
  out["at_ns"] = s.at_ns;
  if (pods) {
    out["pods"] = json::array();
    for (const auto& p : s.pods)
      out["pods"].push_back({{"name", p.name},
                             {"namespace", p.ns},
                             {"inferenceset", p.set},
                             {"model", p.model},
                             {"phase", nm::to_string(static_cast<nm::pod_phase>(p.phase))},
                             {"node", p.node},
                             {"reason", p.reason},
                             {"gpus", p.gpus},
                             {"created_ns", p.created_ns},
                             {"phase_since_ns", p.phase_since_ns},
                             {"warm_start", p.warm_start},
                             {"group", p.group},
                             {"group_index", p.group_index},
                             {"restarts", p.restarts}});
  } else {
    out["nodes"] = json::array();
    for (const auto& n : s.nodes)
      out["nodes"].push_back({{"name", n.name},
                              {"pool", n.pool},
                              {"instance_type", n.instance_type},
                              {"gpus", n.gpus},
                              {"gpus_allocated", n.gpus_allocated},
                              {"ready", n.ready},
                              {"cached_models", n.cached_models},
                              {"pods", n.pods},
                              {"created_ns", n.created_ns},
                              {"labels", n.labels},
                              {"unschedulable", n.unschedulable},
                              {"spot", n.spot},
                              {"reclaim_at_ns", n.reclaim_at_ns},
                              {"reason", n.reason}});
    out["provisioning"] = s.provisioning;
    // Usage since the start: by NodePool (node-hours, GPU-hours, cost), by InferenceSet.
    out["node_pools"] = json::object();
    for (const auto& [pool, hours] : s.pool_node_hours)
      out["node_pools"][pool] = {{"node_hours", hours},
                                 {"gpu_hours", s.pool_gpu_hours.at(pool)},
                                 {"cost", s.pool_cost.at(pool)}};
    out["inferenceset_gpu_hours"] = s.set_gpu_hours;
  }
  return out;
}

json to_json(const ctl::set_status_list& list) {
  json out = {{"inferencesets", json::array()}};
  for (const auto& s : list.sets)
    out["inferencesets"].push_back({{"namespace", s.ns},
                                    {"name", s.set},
                                    {"desired", s.desired},
                                    {"current", s.current},
                                    {"ready", s.ready},
                                    {"pending", s.pending},
                                    {"ready_pods", s.ready_pods},
                                    {"last_scale_reason", s.last_scale_reason},
                                    {"last_scale_ns", s.last_scale_ns},
                                    {"created_ns", s.created_ns}});
  return out;
}

void reply(const std::shared_ptr<http::exchange>& ex, int status, const json& body) {
  ex->respond(static_cast<http::status>(status), body.dump(), "application/json");
}

void reply_error(const std::shared_ptr<http::exchange>& ex, int status, const std::string& what) {
  reply(ex, status,
        {{"error",
          {{"message", what},
           {"type", status >= 500 ? "server_error" : "invalid_request_error"},
           {"param", nullptr},
           {"code", status == 404   ? "not_found"
                    : status >= 500 ? "internal_error"
                                    : "bad_request"}}}});
}

}  // namespace

bool serve_control(const std::shared_ptr<http::exchange>& ex, caf::actor_system& system,
                   const nm::node_mocker_actor& mocker, const ctl::controller_actor& controller) {
  auto target = http::to_std(ex->req().target());
  auto path = std::string(target.substr(0, target.find('?')));
  if (path.rfind("/control/", 0) != 0) return false;
  auto method = ex->req().method();
  auto timeout = std::chrono::seconds(5);
  if ((path == "/control/pods" || path == "/control/nodes") &&
      method == boost::beast::http::verb::get) {
    bool pods = path == "/control/pods";
    system.spawn([=](caf::event_based_actor* self) {
      self->request(mocker, timeout, nm::cluster_query{})
          .then([=](nm::cluster_snapshot& s) { reply(ex, 200, to_json(s, pods)); },
                [=](caf::error& err) {
                  reply_error(ex, 503, "node mocker: " + self->system().render(err));
                });
    });
    return true;
  }
  if (path == "/control/inferencesets" && method == boost::beast::http::verb::get) {
    system.spawn([=](caf::event_based_actor* self) {
      self->request(controller, timeout, ctl::set_status_query{})
          .then([=](ctl::set_status_list& l) { reply(ex, 200, to_json(l)); },
                [=](caf::error& err) {
                  reply_error(ex, 503, "controller: " + self->system().render(err));
                });
    });
    return true;
  }
  if (path == "/control/scale" && method == boost::beast::http::verb::post) {
    auto body = json::parse(ex->req().body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      reply_error(ex, 400, "expected a JSON object {\"namespace\",\"inferenceset\",\"replicas\"}");
      return true;
    }
    ctl::scale_set req;
    req.source = "operator";
    try {
      req.ns = body.at("namespace").get<std::string>();
      req.set = body.at("inferenceset").get<std::string>();
      req.replicas = body.at("replicas").get<int32_t>();
      req.reason = body.value("reason", std::string("set by an operator"));
    } catch (const std::exception& e) {
      reply_error(ex, 400, std::string("bad scale request: ") + e.what());
      return true;
    }
    system.spawn([=](caf::event_based_actor* self) {
      self->request(controller, timeout, req)
          .then(
              [=](ctl::scale_result& r) {
                if (!r.ok)
                  reply_error(ex, r.error.rfind("no InferenceSet", 0) == 0 ? 404 : 400, r.error);
                else
                  reply(ex, 200, {{"previous", r.previous}, {"replicas", r.replicas}});
              },
              [=](caf::error& err) {
                reply_error(ex, 503, "controller: " + self->system().render(err));
              });
    });
    return true;
  }
  if (path == "/control/node" && method == boost::beast::http::verb::post) {
    auto body = json::parse(ex->req().body(), nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      reply_error(ex, 400, "expected a JSON object {\"node\",\"action\"}");
      return true;
    }
    nm::node_command cmd;
    try {
      cmd.node = body.at("node").get<std::string>();
      cmd.action = body.at("action").get<std::string>();
      cmd.notice_ns = static_cast<int64_t>(body.value("notice_seconds", 0.0) * 1e9);
      cmd.reason = body.value("reason", std::string("by an operator"));
    } catch (const std::exception& e) {
      reply_error(ex, 400, std::string("bad node request: ") + e.what());
      return true;
    }
    system.spawn([=](caf::event_based_actor* self) {
      self->request(mocker, timeout, cmd)
          .then(
              [=](nm::node_command_result& r) {
                if (!r.ok)
                  reply_error(ex, r.error.rfind("no node", 0) == 0 ? 404 : 400, r.error);
                else
                  reply(ex, 200,
                        {{"node", cmd.node},
                         {"action", cmd.action},
                         {"pods", r.pods},
                         {"at_ns", r.at_ns}});
              },
              [=](caf::error& err) {
                reply_error(ex, 503, "node mocker: " + self->system().render(err));
              });
    });
    return true;
  }
  reply_error(ex, 404, "no control route " + path);
  return true;
}

}  // namespace inferstack::nodes
