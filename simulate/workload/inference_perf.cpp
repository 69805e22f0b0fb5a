// inference-perf config files as workloads: checks the YAML field by field (one
// workload_error naming file, line and field for the first problem), then lays out the
// requests of each load stage in virtual time. See the header for what is read and how.
#include "simulate/workload/inference_perf.hpp"
#include "simulate/workload/yaml_document.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <numbers>
#include <optional>
#include <random>
#include <sstream>
#include <string_view>
#include <vector>

namespace inferstack::simulate {
namespace {

/// Numbers from the seeded engine by formulas written here: std::mt19937_64's output is fixed
/// by the standard, the standard distributions' outputs are not.
class random_source {
 public:
  explicit random_source(uint64_t seed) : engine_(seed) {}

  /// In [0, 1), from the top 53 bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double exponential(double rate) { return -std::log1p(-uniform()) / rate; }
  /// Standard normal by Box-Muller (one of the pair; simple before fast).
  double normal() {
    double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::mt19937_64 engine_;
};

/// A token-length distribution, with inference-perf's defaults.
struct distribution {
  enum class kind { normal, uniform, fixed } type = kind::normal;
  int64_t min = 10;
  int64_t max = 1024;
  double mean = 512;
  double std_dev = 200;
  std::optional<int64_t> total_count;

  static distribution fixed_at(int64_t value) {
    return {kind::fixed, value, value, static_cast<double>(value), 0, std::nullopt};
  }

  uint32_t sample(random_source& random) const {
    if (type == kind::fixed) return static_cast<uint32_t>(std::max<int64_t>(0, (int64_t)mean));
    double x = type == kind::normal ? mean + std_dev * random.normal()
                                    : min + random.uniform() * static_cast<double>(max + 1 - min);
    // Clamp, then round half to even as numpy does, then clamp again (rounding may pass max).
    double rounded = std::nearbyint(std::clamp(x, double(min), double(max)));
    return static_cast<uint32_t>(std::clamp<int64_t>(int64_t(rounded), min, max));
  }
};

struct stage {
  double rate = 0;
  double duration = 0;
};

/// Reads fields, each checked, each failure naming file, line and field path.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& field,
                         const std::string& problem) const {
    throw workload_error(file_, line_of(at), field, problem);
  }

  static size_t line_of(const YAML::Node& node) {
    if (!node.IsDefined()) return 0;
    auto mark = node.Mark();
    return mark.is_null() ? 0 : static_cast<size_t>(mark.line) + 1;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  /// The child `key` of `map`, or nothing when absent.
  std::optional<YAML::Node> find(const YAML::Node& map, const std::string& key) const {
    YAML::Node child = map[key];
    if (!child.IsDefined()) return std::nullopt;
    return child;
  }

  YAML::Node require(const YAML::Node& map, const std::string& path, const std::string& key) const {
    auto child = find(map, key);
    if (!child) fail(map, join(path, key), "missing field");
    return *child;
  }

  void expect_map(const YAML::Node& node, const std::string& path) const {
    if (!node.IsMap()) fail(node, path, "wrong type: expected a mapping");
  }

  /// Every key of `map` must be one this reader reads or knowingly ignores; keys simulate
  /// understands but cannot model get their own message.
  void check_keys(const YAML::Node& map, const std::string& path,
                  std::initializer_list<std::string_view> known,
                  std::initializer_list<std::string_view> unsupported = {}) const {
    for (const auto& entry : map) {
      std::string key = entry.first.IsScalar() ? entry.first.Scalar() : std::string("?");
      auto has = [&](std::initializer_list<std::string_view> list) {
        return std::find(list.begin(), list.end(), key) != list.end();
      };
      if (has(known)) continue;
      throw workload_error(file_, line_of(entry.first), join(path, key),
                           has(unsupported) ? "not supported by simulate" : "unknown field");
    }
  }

  double number(const YAML::Node& node, const std::string& path) const {
    double value = 0;
    if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value))
      fail(node, path, "wrong type: expected a number");
    return value;
  }

  int64_t integer(const YAML::Node& node, const std::string& path) const {
    int64_t value = 0;
    if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value))
      fail(node, path, "wrong type: expected an integer");
    return value;
  }

  bool boolean(const YAML::Node& node, const std::string& path) const {
    bool value = false;
    if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
      fail(node, path, "wrong type: expected true or false");
    return value;
  }

  std::string text(const YAML::Node& node, const std::string& path) const {
    if (!node.IsScalar()) fail(node, path, "wrong type: expected a string");
    return node.Scalar();
  }

  double positive(const YAML::Node& node, const std::string& path) const {
    double value = number(node, path);
    if (value <= 0) fail(node, path, "must be positive");
    return value;
  }

  int64_t positive_integer(const YAML::Node& node, const std::string& path) const {
    int64_t value = integer(node, path);
    if (value <= 0) fail(node, path, "must be positive");
    return value;
  }

  distribution read_distribution(const YAML::Node& node, const std::string& path) const {
    expect_map(node, path);
    check_keys(node, path,
               {"type", "min", "max", "mean", "std_dev", "variance", "total_count", "skew"});
    distribution d;
    if (auto type = find(node, "type")) {
      auto name = text(*type, join(path, "type"));
      if (name == "normal")
        d.type = distribution::kind::normal;
      else if (name == "uniform")
        d.type = distribution::kind::uniform;
      else if (name == "fixed")
        d.type = distribution::kind::fixed;
      else if (name == "skew_normal" || name == "lognormal" || name == "poisson")
        fail(*type, join(path, "type"), "'" + name + "' is not supported by simulate");
      else
        fail(*type, join(path, "type"),
             "unknown distribution type '" + name + "' (normal, uniform, fixed)");
    }
    if (auto v = find(node, "min")) d.min = integer(*v, join(path, "min"));
    if (auto v = find(node, "max")) d.max = integer(*v, join(path, "max"));
    if (auto v = find(node, "mean")) d.mean = number(*v, join(path, "mean"));
    auto std_dev = find(node, "std_dev");
    if (std_dev) d.std_dev = number(*std_dev, join(path, "std_dev"));
    if (auto v = find(node, "variance")) {
      if (std_dev) fail(*v, join(path, "variance"), "give std_dev or variance, not both");
      double variance = number(*v, join(path, "variance"));
      if (variance < 0) fail(*v, join(path, "variance"), "must not be negative");
      d.std_dev = std::sqrt(variance);
    }
    if (auto v = find(node, "total_count"))
      d.total_count = positive_integer(*v, join(path, "total_count"));
    if (d.min < 0) fail(node, join(path, "min"), "must not be negative");
    if (d.min > d.max) fail(node, join(path, "min"), "greater than max");
    if (d.std_dev < 0) fail(node, join(path, "std_dev"), "must not be negative");
    return d;
  }

  /// A shared_prefix length: an integer, or an inline distribution.
  distribution length(const YAML::Node& node, const std::string& path) const {
    if (node.IsMap()) return read_distribution(node, path);
    int64_t value = integer(node, path);
    if (value < 0) fail(node, path, "must not be negative");
    return distribution::fixed_at(value);
  }

 private:
  std::string file_;
};

/// The prompt and output lengths of request i, whatever the data type.
struct prompt {
  uint32_t prompt_tokens = 0;
  uint32_t max_tokens = 0;
  std::optional<uint64_t> group;  ///< shared_prefix only
  uint32_t prefix_tokens = 0;
};

std::vector<prompt> read_data(const reader& r, const YAML::Node& data, bool chat,
                              const YAML::Node& api_type, random_source& random) {
  r.expect_map(data, "data");
  r.check_keys(data, "data",
               {"type", "path", "corpus_file_path", "input_distribution", "output_distribution",
                "shared_prefix"},
               {"multimodal", "trace", "otel_trace_replay", "weka_trace_replay",
                "conversation_replay", "visionarena"});
  auto type_node = r.require(data, "data", "type");
  auto type = r.text(type_node, "data.type");
  std::vector<prompt> prompts;

  if (type == "shared_prefix") {
    auto sp = r.require(data, "data", "shared_prefix");
    const std::string path = "data.shared_prefix";
    r.expect_map(sp, path);
    r.check_keys(sp, path,
                 {"num_groups", "num_unique_system_prompts", "num_prompts_per_group",
                  "num_users_per_system_prompt", "system_prompt_len", "question_len", "output_len",
                  "question_distribution", "output_distribution", "seed", "enable_multi_turn_chat"},
                 {"multimodal"});
    auto count = [&](const char* name, const char* alias) -> int64_t {
      for (const char* key : {name, alias})
        if (auto v = r.find(sp, key)) return r.positive_integer(*v, reader::join(path, key));
      return 10;  // inference-perf's default
    };
    int64_t groups = count("num_groups", "num_unique_system_prompts");
    int64_t per_group = count("num_prompts_per_group", "num_users_per_system_prompt");
    auto length = [&](const char* name, const char* legacy) {
      auto v = r.find(sp, name);
      auto old = legacy ? r.find(sp, legacy) : std::nullopt;
      if (v && v->IsMap() && old)
        r.fail(*old, reader::join(path, legacy), std::string("give it or ") + name + ", not both");
      if (v && v->IsMap()) return r.read_distribution(*v, reader::join(path, name));
      if (old) return r.read_distribution(*old, reader::join(path, legacy));
      if (v) return r.length(*v, reader::join(path, name));
      return distribution::fixed_at(std::string_view(name) == "system_prompt_len" ? 100 : 50);
    };
    auto system = length("system_prompt_len", nullptr);
    auto question = length("question_len", "question_distribution");
    auto output = length("output_len", "output_distribution");
    if (auto v = r.find(sp, "enable_multi_turn_chat");
        v && r.boolean(*v, reader::join(path, "enable_multi_turn_chat")))
      r.fail(*v, reader::join(path, "enable_multi_turn_chat"), "not supported by simulate");

    // Drawn in inference-perf's order: every group's system prompt, then group by group its
    // questions and outputs.
    std::vector<uint32_t> system_lens;
    for (int64_t g = 0; g < groups; ++g)
      system_lens.push_back(system.sample(random));
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<uint32_t> questions, outputs;
      for (int64_t p = 0; p < per_group; ++p)
        questions.push_back(question.sample(random));
      for (int64_t p = 0; p < per_group; ++p)
        outputs.push_back(output.sample(random));
      for (int64_t p = 0; p < per_group; ++p)
        prompts.push_back(
            prompt{system_lens[g] + questions[p], outputs[p], uint64_t(g), system_lens[g]});
    }
    return prompts;
  }

  if (type == "random" || type == "synthetic") {
    // inference-perf's random and synthetic generators serve the completion API only.
    if (chat) r.fail(api_type, "api.type", "data.type " + type + " supports completion only");
    auto in = r.read_distribution(r.require(data, "data", "input_distribution"),
                                  "data.input_distribution");
    auto out = r.read_distribution(r.require(data, "data", "output_distribution"),
                                   "data.output_distribution");
    for (auto [d, name] : {std::pair{&in, "input_distribution"}, {&out, "output_distribution"}})
      if (!d->total_count)
        r.fail(data[name], "data." + std::string(name) + ".total_count", "missing field");
    std::vector<uint32_t> inputs, outputs;
    for (int64_t i = 0; i < *in.total_count; ++i)
      inputs.push_back(in.sample(random));
    for (int64_t i = 0; i < *out.total_count; ++i)
      outputs.push_back(out.sample(random));
    size_t n = std::min(inputs.size(), outputs.size());
    for (size_t i = 0; i < n; ++i)
      prompts.push_back(prompt{inputs[i], outputs[i], std::nullopt, 0});
    return prompts;
  }

  static constexpr std::string_view others[] = {"mock",
                                                "shareGPT",
                                                "cnn_dailymail",
                                                "infinity_instruct",
                                                "billsum_conversations",
                                                "otel_trace_replay",
                                                "weka_trace_replay",
                                                "conversation_replay",
                                                "visionarena"};
  if (std::find(std::begin(others), std::end(others), type) != std::end(others))
    r.fail(type_node, "data.type", "'" + type + "' is not supported by simulate");
  r.fail(type_node, "data.type",
         "unknown data type '" + type + "' (shared_prefix, random, synthetic)");
}

std::vector<stage> read_stages(const reader& r, const YAML::Node& load, bool& poisson,
                               double& interval) {
  r.expect_map(load, "load");
  r.check_keys(load, "load",
               {"type", "interval", "stages", "num_workers", "worker_max_concurrency",
                "worker_max_tcp_connections", "request_timeout", "base_seed", "circuit_breakers"},
               {"sweep", "lora_traffic_split", "trace"});
  std::string type = "constant";
  if (auto t = r.find(load, "type")) {
    type = r.text(*t, "load.type");
    if (type == "concurrent" || type == "trace_replay" || type == "trace_session_replay")
      r.fail(*t, "load.type", "'" + type + "' is not supported by simulate");
    if (type != "constant" && type != "poisson")
      r.fail(*t, "load.type", "unknown load type '" + type + "' (constant, poisson)");
  }
  poisson = type == "poisson";
  interval = 1.0;
  if (auto v = r.find(load, "interval")) {
    interval = r.number(*v, "load.interval");
    if (interval < 0) r.fail(*v, "load.interval", "must not be negative");
  }
  auto list = r.require(load, "load", "stages");
  if (!list.IsSequence()) r.fail(list, "load.stages", "wrong type: expected a list");
  if (list.size() == 0) r.fail(list, "load.stages", "empty: give at least one stage");
  std::vector<stage> stages;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = "load.stages[" + std::to_string(i) + "]";
    auto item = list[i];
    r.expect_map(item, path);
    r.check_keys(item, path, {"rate", "duration"}, {"num_requests", "concurrency_level"});
    stages.push_back(stage{r.positive(r.require(item, path, "rate"), path + ".rate"),
                           r.positive(r.require(item, path, "duration"), path + ".duration")});
  }
  return stages;
}

std::chrono::nanoseconds at(double seconds) {
  return std::chrono::nanoseconds(std::llround(seconds * 1e9));
}

}  // namespace

workload load_inference_perf_text(const std::string& text, const std::string& file, uint64_t seed) {
  YAML::Node root = parse_yaml_document(text, file);
  reader r(file);
  if (!root.IsMap()) r.fail(root, "", "wrong type: expected a mapping of sections");
  r.check_keys(root, "",
               {"load", "data", "api", "server", "tokenizer", "report", "metrics", "storage",
                "circuit_breakers"});

  bool chat = false, stream = false, ignore_eos = true;
  YAML::Node api_type;
  if (auto api = r.find(root, "api")) {
    r.expect_map(*api, "api");
    r.check_keys(
        *api, "api",
        {"type", "streaming", "headers", "slo_unit", "slo_tpot_header", "slo_ttft_header"});
    if (auto t = r.find(*api, "type")) {
      api_type = *t;
      auto name = r.text(*t, "api.type");
      if (name == "anthropic_messages")
        r.fail(*t, "api.type", "'" + name + "' is not supported by simulate");
      if (name != "completion" && name != "chat")
        r.fail(*t, "api.type", "unknown api type '" + name + "' (completion, chat)");
      chat = name == "chat";
    }
    if (auto s = r.find(*api, "streaming")) stream = r.boolean(*s, "api.streaming");
  }
  if (auto server = r.find(root, "server")) {
    r.expect_map(*server, "server");
    r.check_keys(
        *server, "server",
        {"type", "model_name", "base_url", "ignore_eos", "api_key", "cert_path", "key_path"});
    if (auto v = r.find(*server, "ignore_eos")) ignore_eos = r.boolean(*v, "server.ignore_eos");
  }

  bool poisson = false;
  double interval = 1.0;
  auto stages = read_stages(r, r.require(root, "", "load"), poisson, interval);
  // Separate streams: the same data under another load pattern keeps its lengths.
  random_source lengths(seed);
  random_source arrivals(seed ^ 0x9e3779b97f4a7c15ULL);
  auto prompts = read_data(r, r.require(root, "", "data"), chat, api_type, lengths);

  workload out;
  double start = 0;  // the stage's start, in seconds
  size_t next = 0;   // one request stream across the stages
  for (const auto& s : stages) {
    auto count = static_cast<size_t>(s.rate * s.duration);
    double t = start;
    for (size_t i = 0; i < count; ++i, ++next) {
      t = poisson ? t + arrivals.exponential(s.rate)
                  : start + s.duration * double(i + 1) / double(count);
      const auto& p = prompts[next % prompts.size()];
      workload_request request;
      request.arrival = at(t);
      request.chat = chat;
      request.stream = stream;
      request.prompt_tokens = p.prompt_tokens;
      request.max_tokens = p.max_tokens;
      request.ignore_eos = ignore_eos;
      if (p.group) {
        request.shared_prefix = std::to_string(*p.group);
        request.prefix_blocks = {*p.group};  // one block: the group's system prompt
        request.prefix_block_tokens = p.prefix_tokens;
        request.prompt_id = next % prompts.size() + 1;  // the group's question, asked again
      }
      out.requests.push_back(std::move(request));
    }
    start = std::max(start + s.duration, t) + interval;
  }
  return out;
}

workload load_inference_perf(const std::string& path, uint64_t seed) {
  std::ifstream in(path);
  if (!in) throw workload_error(path, 0, "", "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  return load_inference_perf_text(text.str(), path, seed);
}

}  // namespace inferstack::simulate
