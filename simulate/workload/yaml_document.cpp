#include "simulate/workload/yaml_document.hpp"

#include "simulate/workload/workload.hpp"

namespace inferstack::simulate {

YAML::Node parse_yaml_document(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw workload_error(file, e.mark.is_null() ? 0 : size_t(e.mark.line) + 1, "",
                         "YAML syntax: " + e.msg);
  }
}

}  // namespace inferstack::simulate
