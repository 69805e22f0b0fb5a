// `inferstack get pods|nodes|inferencesets`, `inferstack scale`, `inferstack cordon|uncordon|
// reclaim|fail` and `inferstack top`: the control plane of a running stack over its HTTP admin
// routes (/control/..., /ui/snapshot), printed like kubectl prints.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include "nodes/commands.hpp"
#include "nodes/signals.hpp"
#include "ui/top_table.hpp"

namespace inferstack::nodes {

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using json = nlohmann::json;

/// One HTTP exchange with the stack (a CLI: blocking is fine here). Returns status and body.
std::pair<int, std::string> http_call(const admin_client_options& admin, bhttp::verb method,
                                      const std::string& target, const std::string& body,
                                      const std::string& token) {
  const auto& server = admin.server;
  auto rest = server.rfind("http://", 0) == 0 ? server.substr(7) : server;
  rest = rest.substr(0, rest.find('/'));
  auto colon = rest.rfind(':');
  auto host = colon == std::string::npos ? rest : rest.substr(0, colon);
  auto port = colon == std::string::npos ? std::string("80") : rest.substr(colon + 1);
  net::io_context ioc;
  boost::beast::tcp_stream stream(ioc);
  stream.expires_after(std::chrono::seconds(10));
  net::ip::tcp::resolver resolver(ioc);
  stream.connect(resolver.resolve(host, port));
  bhttp::request<bhttp::string_body> req{method, target, 11};
  req.set(bhttp::field::host, rest);
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  return {res.result_int(), res.body()};
}

std::string age(int64_t since_ns, int64_t now_ns) {
  auto s = (now_ns - since_ns) / 1'000'000'000;
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  if (s < 7200) return std::to_string(s / 60) + "m";
  return std::to_string(s / 3600) + "h";
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
}

std::string error_text(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) return j["error"].value("message", body);
  return body;
}

/// The admin token: --token-file, else $INFERSTACK_ADMIN_TOKEN, else the file a stack
/// started here generated (var/secrets/inferstack-admin/admin-token). Empty: none found.
std::string admin_token(const admin_client_options& admin) {
  if (admin.token_file.empty())
    if (const char* env = std::getenv("INFERSTACK_ADMIN_TOKEN"); env && *env) return env;
  auto file = admin.token_file.empty() ? std::string("var/secrets/inferstack-admin/admin-token")
                                       : admin.token_file;
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  return token;
}

}  // namespace

int run_get(const get_options& options, const common_options& common) {
  std::string path;
  if (options.what == "pods" || options.what == "pod" || options.what == "po")
    path = "/control/pods";
  else if (options.what == "nodes" || options.what == "node" || options.what == "no")
    path = "/control/nodes";
  else if (options.what == "inferencesets" || options.what == "inferenceset" ||
           options.what == "is")
    path = "/control/inferencesets";
  else if (options.what == "nodepools" || options.what == "nodepool")
    path = "/control/nodes";  // its usage part
  else {
    std::cerr << "inferstack get: unknown kind '" << options.what
              << "' (pods, nodes, nodepools or inferencesets)\n";
    return 2;
  }
  std::pair<int, std::string> res;
  try {
    res = http_call(options.admin, bhttp::verb::get, path, "", admin_token(options.admin));
  } catch (const std::exception& e) {
    std::cerr << "inferstack get: cannot reach " << options.admin.server << ": " << e.what()
              << "\n";
    return 1;
  }
  if (res.first != 200) {
    std::cerr << "inferstack get: " << res.first << ": " << error_text(res.second) << "\n";
    return 1;
  }
  auto j = json::parse(res.second, nullptr, false);
  if (j.is_discarded()) {
    std::cerr << "inferstack get: not JSON from " << options.admin.server << "\n";
    return 1;
  }
  if (options.output == "json") {
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  auto now = j.value("at_ns", int64_t{0});
  std::vector<std::vector<std::string>> rows;
  auto in_ns = [&](const std::string& ns) {
    return options.all_namespaces || options.ns.empty() || ns == options.ns;
  };
  if (path == "/control/pods") {
    rows.push_back({"NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "NODE", "GPUS", "GROUP",
                    "AGE", "REASON"});
    for (const auto& p : j["pods"]) {
      auto ns = p.value("namespace", "");
      if (!in_ns(ns)) continue;
      auto name = p.value("name", "");
      auto phase = p.value("phase", "");
      // A LeaderWorkerSet group: its leader's name and this pod's index (0: the leader).
      auto group = p.value("group", "");
      auto group_text = group.empty() ? std::string("<none>")
                                      : group.substr(group.find('/') + 1) + "/" +
                                            std::to_string(p.value("group_index", 0));
      rows.push_back({ns, name.substr(name.find('/') + 1), phase == "Ready" ? "1/1" : "0/1", phase,
                      std::to_string(p.value("restarts", 0)),
                      p.value("node", "") == "" ? "<none>" : p.value("node", ""),
                      std::to_string(p.value("gpus", 0)), group_text,
                      age(p.value("created_ns", now), now), p.value("reason", "")});
    }
  } else if (options.what == "nodepools" || options.what == "nodepool") {
    // Usage since the stack started, and its cost at each pool's pricePerHour.
    rows.push_back({"NAME", "CAPACITY", "NODES", "NODE-HOURS", "GPU-HOURS", "COST"});
    std::map<std::string, std::pair<int, std::string>> nodes;  // count, capacity type
    for (const auto& n : j["nodes"]) {
      auto& entry = nodes[n.value("pool", "")];
      ++entry.first;
      entry.second = n.value("spot", false) ? "spot" : "on-demand";
    }
    char buf[3][32];
    for (const auto& [pool, u] : j["node_pools"].items()) {
      std::snprintf(buf[0], sizeof buf[0], "%.2f", u.value("node_hours", 0.0));
      std::snprintf(buf[1], sizeof buf[1], "%.2f", u.value("gpu_hours", 0.0));
      std::snprintf(buf[2], sizeof buf[2], "%.2f", u.value("cost", 0.0));
      auto it = nodes.find(pool);
      rows.push_back({pool, it == nodes.end() ? "" : it->second.second,
                      std::to_string(it == nodes.end() ? 0 : it->second.first), buf[0], buf[1],
                      buf[2]});
    }
  } else if (path == "/control/nodes") {
    rows.push_back({"NAME", "STATUS", "INSTANCE-TYPE", "CAPACITY", "GPU", "PODS", "MODEL-CACHE",
                    "AGE", "REASON"});
    for (const auto& n : j["nodes"]) {
      std::string cache;
      for (const auto& m : n["cached_models"])
        cache += (cache.empty() ? "" : ",") + m.get<std::string>();
      // As kubectl: a cordoned node is "Ready,SchedulingDisabled".
      std::string status = n.value("ready", true) ? "Ready" : "NotReady";
      if (n.value("unschedulable", false)) status += ",SchedulingDisabled";
      std::string reason = n.value("reason", "");
      if (auto at = n.value("reclaim_at_ns", int64_t{0}); at > 0)
        reason +=
            "; goes in " + std::to_string(std::max<int64_t>(0, (at - now) / 1'000'000'000)) + "s";
      rows.push_back(
          {n.value("name", ""), status, n.value("instance_type", ""),
           n.value("spot", false) ? "spot" : "on-demand",
           std::to_string(n.value("gpus_allocated", 0)) + "/" + std::to_string(n.value("gpus", 0)),
           std::to_string(n["pods"].size()), cache.empty() ? "<none>" : cache,
           age(n.value("created_ns", now), now), reason});
    }
    if (j.value("provisioning", 0) > 0)
      rows.push_back({"(provisioning " + std::to_string(j.value("provisioning", 0)) + ")"});
  } else {
    rows.push_back({"NAMESPACE", "NAME", "REPLICAS", "CURRENT", "READY", "PENDING", "LAST-SCALE"});
    for (const auto& s : j["inferencesets"]) {
      auto ns = s.value("namespace", "");
      if (!in_ns(ns)) continue;
      rows.push_back({ns, s.value("name", ""), std::to_string(s.value("desired", 0)),
                      std::to_string(s.value("current", 0)), std::to_string(s.value("ready", 0)),
                      std::to_string(s.value("pending", 0)), s.value("last_scale_reason", "")});
    }
  }
  print_table(rows);
  return 0;
}

int run_scale(const scale_options& options, const common_options& common) {
  auto slash = options.target.find('/');
  if (slash == std::string::npos) {
    std::cerr << "inferstack scale: expected <namespace>/<inferenceset>, got '" << options.target
              << "'\n";
    return 2;
  }
  json body = {{"namespace", options.target.substr(0, slash)},
               {"inferenceset", options.target.substr(slash + 1)},
               {"replicas", options.replicas}};
  std::pair<int, std::string> res;
  try {
    res = http_call(options.admin, bhttp::verb::post, "/control/scale", body.dump(),
                    admin_token(options.admin));
  } catch (const std::exception& e) {
    std::cerr << "inferstack scale: cannot reach " << options.admin.server << ": " << e.what()
              << "\n";
    return 1;
  }
  if (res.first != 200) {
    std::cerr << "inferstack scale: " << res.first << ": " << error_text(res.second) << "\n";
    return 1;
  }
  auto j = json::parse(res.second, nullptr, false);
  std::cout << "inferenceset " << options.target << " scaled: " << j.value("previous", 0) << " -> "
            << j.value("replicas", 0) << "\n";
  return 0;
}

int run_top(const top_options& options, const common_options& /*common*/) {
  auto token = admin_token(options.admin);
  for (;;) {
    std::pair<int, std::string> res;
    try {
      res = http_call(options.admin, bhttp::verb::get, "/ui/snapshot", "", token);
    } catch (const std::exception& e) {
      res = {0, std::string("cannot reach ") + options.admin.server + ": " + e.what()};
    }
    auto j = res.first == 200 ? json::parse(res.second, nullptr, false) : json();
    std::string screen;
    if (res.first == 0)
      screen = "inferstack top: " + res.second + "\n";
    else if (res.first != 200)
      screen =
          "inferstack top: " + std::to_string(res.first) + ": " + error_text(res.second) + "\n";
    else if (j.is_discarded() || !j.is_object())
      screen = "inferstack top: not JSON from " + options.admin.server + "\n";
    else
      screen = ui::top_table(j);
    bool ok = res.first == 200 && j.is_object();
    if (options.once) {
      (ok ? std::cout : std::cerr) << screen << std::flush;
      return ok ? 0 : 1;
    }
    // Home and clear, then the tables: the terminal redraws in place.
    std::cout << "\x1b[H\x1b[2J" << options.admin.server << "   (every 1 s; Ctrl-C ends)\n\n"
              << screen << std::flush;
    // The signals are blocked in every thread (main): Ctrl-C and SIGTERM are taken here.
    if (wait_signal(std::chrono::milliseconds(1000)) != 0) return 0;
  }
}

int run_node_command(const node_options& options, const common_options& common) {
  auto name = "inferstack " + options.action;
  json body = {{"node", options.node}, {"action", options.action}};
  if (options.notice_seconds > 0) body["notice_seconds"] = options.notice_seconds;
  if (!options.reason.empty()) body["reason"] = options.reason;
  std::pair<int, std::string> res;
  try {
    res = http_call(options.admin, bhttp::verb::post, "/control/node", body.dump(),
                    admin_token(options.admin));
  } catch (const std::exception& e) {
    std::cerr << name << ": cannot reach " << options.admin.server << ": " << e.what() << "\n";
    return 1;
  }
  if (res.first != 200) {
    std::cerr << name << ": " << res.first << ": " << error_text(res.second) << "\n";
    return 1;
  }
  auto j = json::parse(res.second, nullptr, false);
  std::string pods;
  if (j.is_object())
    for (const auto& p : j["pods"])
      pods += (pods.empty() ? "" : ", ") + p.get<std::string>();
  // kubectl's words: "node/x cordoned".
  std::string done = options.action == "cordon"     ? "cordoned"
                     : options.action == "uncordon" ? "uncordoned"
                     : options.action == "reclaim"  ? "reclaimed (draining)"
                                                    : "failed";
  std::cout << "node/" << options.node << " " << done;
  if (!pods.empty()) std::cout << ": " << pods;
  std::cout << "\n";
  return 0;
}

}  // namespace inferstack::nodes
