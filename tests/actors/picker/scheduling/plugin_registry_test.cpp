// The plugin registry against its declarations: every type once, PLUGINS.md is its table, and
// each factory reads exactly the parameters it declares.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "actors/picker/scheduling/plugin_registry.hpp"
#include "tests/actors/picker/scheduling/picker_test_util.hpp"

using namespace picker_test;

namespace {

const char* header = "apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n";

/// The table PLUGINS.md holds, one row per registered type.
std::string expected_table() {
  std::string out =
      "| type | kind | parameters (default) |\n"
      "|---|---|---|\n";
  for (const auto& f : plugin_factories()) {
    out += "| `" + std::string(f.type) + "` | " + kind_name(f.kind) + " | ";
    if (f.params.empty()) out += "none";
    for (size_t i = 0; i < f.params.size(); ++i)
      out += std::string(i ? "<br>" : "") + "`" + std::string(f.params[i].name) +
             "`: " + std::string(f.params[i].default_value);
    out += " |\n";
  }
  return out;
}

/// The table rows of PLUGINS.md (its lines starting with '|').
std::string file_table() {
  std::ifstream in(std::string(INFERSTACK_SOURCE_DIR) + "/actors/picker/scheduling/PLUGINS.md");
  REQUIRE(in);
  std::string line, out;
  while (std::getline(in, line))
    if (!line.empty() && line[0] == '|') out += line + "\n";
  return out;
}

/// A one-plugin config (plus what handlers need) with `params` as the plugin's parameters.
build_result build_one(std::string_view type, const YAML::Node& params) {
  YAML::Emitter e;
  e << YAML::Flow << params;
  std::string body = std::string(header) + "plugins:\n- type: " + std::string(type) +
                     "\n  name: p\n  parameters: " + e.c_str() + "\n";
  body += "- type: queue-scorer\n";
  if (type == "disagg-profile-handler" || type == "pd-profile-handler")
    body +=
        "schedulingProfiles:\n- name: decode\n  plugins: [{pluginRef: queue-scorer}]\n"
        "- name: prefill\n  plugins: [{pluginRef: queue-scorer}]\n";
  return build_endpoint_picker_from_yaml(body);
}

/// {a: {b: ~}} for "a.b".
void set_path(YAML::Node node, std::string_view dotted) {
  auto dot = dotted.find('.');
  if (dot == std::string_view::npos) {
    node[std::string(dotted)] = YAML::Node(YAML::NodeType::Null);
    return;
  }
  auto key = std::string(dotted.substr(0, dot));
  if (!node[key].IsMap()) node[key] = YAML::Node(YAML::NodeType::Map);
  set_path(node[key], dotted.substr(dot + 1));
}

std::vector<std::string> unknown_parameters(const build_result& r) {
  std::vector<std::string> out;
  for (const auto& p : r.problems)
    if (p.message.find("unknown parameter") != std::string::npos) out.push_back(p.field);
  return out;
}

bool any_parameter(const plugin_factory& f) {
  return std::any_of(f.params.begin(), f.params.end(),
                     [](const plugin_param& p) { return p.name == "*"; });
}

std::string top_level(std::string_view name) {
  return std::string(name.substr(0, name.find('.')));
}

}  // namespace

TEST_CASE("plugin registry: every type is registered once and found", "[plugins-registry]") {
  std::set<std::string> seen;
  for (const auto& f : plugin_factories()) {
    INFO(f.type);
    CHECK(seen.insert(std::string(f.type)).second);
    CHECK(find_plugin_factory(f.type) == &f);
    CHECK(f.make != nullptr);
  }
  CHECK(find_plugin_factory("no-such-plugin") == nullptr);
  CHECK(known_plugin_types() == std::vector<std::string>(seen.begin(), seen.end()));
}

TEST_CASE("plugin registry: PLUGINS.md is the table of the registry", "[plugins-registry]") {
  auto expected = expected_table();
  if (file_table() != expected) {
    // The table to paste into PLUGINS.md (Catch would wrap its long lines).
    std::ofstream("PLUGINS.table.md") << expected;
    FAIL("PLUGINS.md differs from the registry; its table is in PLUGINS.table.md");
  }
}

TEST_CASE("plugin registry: every declared parameter is read by its factory",
          "[plugins-registry]") {
  for (const auto& f : plugin_factories()) {
    if (f.params.empty() || any_parameter(f)) continue;
    YAML::Node params(YAML::NodeType::Map);
    for (const auto& p : f.params)
      set_path(params, p.name);
    auto r = build_one(f.type, params);
    INFO(f.type << "\n" << r.error_text());
    CHECK(unknown_parameters(r).empty());
  }
}

TEST_CASE("plugin registry: a parameter another type declares is unknown unless declared",
          "[plugins-registry]") {
  std::set<std::string> names;
  for (const auto& f : plugin_factories())
    for (const auto& p : f.params)
      if (p.name != "*") names.insert(top_level(p.name));
  names.insert("noSuchParameter");
  for (const auto& f : plugin_factories()) {
    std::set<std::string> declared;
    for (const auto& p : f.params)
      declared.insert(top_level(p.name));
    for (const auto& name : names) {
      YAML::Node params(YAML::NodeType::Map);
      params[name] = YAML::Node(YAML::NodeType::Null);
      auto r = build_one(f.type, params);
      bool unknown = !unknown_parameters(r).empty();
      INFO(f.type << " " << name << "\n" << r.error_text());
      CHECK(unknown == !(declared.count(name) || any_parameter(f)));
    }
  }
}

TEST_CASE("plugin registry: the example configs use declared parameters only",
          "[plugins-registry]") {
  // Walks every parameter path of every plugin in config/picker/ down to the declared name.
  std::vector<std::string> files;
  for (const auto& e :
       std::filesystem::directory_iterator(std::string(INFERSTACK_SOURCE_DIR) + "/config/picker"))
    files.push_back(e.path().string());
  REQUIRE(files.size() >= 8);
  size_t checked = 0;
  for (const auto& file : files) {
    auto loaded = inferstack::config::load_files({file});
    INFO(file);
    REQUIRE(loaded.ok());
    REQUIRE(loaded.config.picker_configs.size() == 1);
    for (const auto& spec : loaded.config.picker_configs.front().plugins) {
      const auto* f = find_plugin_factory(spec.type);
      REQUIRE(f);
      if (any_parameter(*f) || !spec.parameters.IsMap()) continue;
      std::vector<std::pair<std::string, YAML::Node>> todo;
      for (const auto& kv : spec.parameters)
        todo.emplace_back(kv.first.Scalar(), kv.second);
      while (!todo.empty()) {
        auto [path, node] = todo.back();
        todo.pop_back();
        bool declared = std::any_of(f->params.begin(), f->params.end(),
                                    [&](const plugin_param& p) { return p.name == path; });
        if (declared) {
          ++checked;
          continue;
        }
        INFO(spec.type << " " << path);
        REQUIRE(node.IsMap());  // a nested object: one of its fields is declared
        for (const auto& kv : node)
          todo.emplace_back(path + "." + kv.first.Scalar(), kv.second);
      }
    }
  }
  CHECK(checked > 10);
}
