#include "runtime/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace inferstack::runtime {

std::string render_metrics(prometheus::Registry& registry) {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry.Collect());
}

}  // namespace inferstack::runtime
