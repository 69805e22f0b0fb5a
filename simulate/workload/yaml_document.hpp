// A YAML file's text as one document, for the simulate loaders (inference-perf configs, faults
// timelines): a syntax error becomes a workload_error naming the file and the line.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

namespace inferstack::simulate {

/// Parses `text`; throws workload_error(file, line, "", "YAML syntax: ...") when it is not YAML.
YAML::Node parse_yaml_document(const std::string& text, const std::string& file);

}  // namespace inferstack::simulate
