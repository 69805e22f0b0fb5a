// llm-d-router v0.10 renamed the endpoint picker's metrics to llm_d_epp_* and still emits the
// old GAIE names (inference_objective_*, inference_pool_*, inference_extension_*) beside them.
// We do the same at /metrics: each family under an old name is also rendered under its new
// one, from the same series, so the picker counts once and dashboards of either era work.
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace inferstack::runtime {

/// One rename: the old family name, the new one, and a label llm-d renamed with it (or none).
struct metric_alias {
  std::string_view old_name;
  std::string_view new_name;
  std::string_view old_label = {};
  std::string_view new_label = {};
};

/// llm-d-router v0.10's renames (pkg/epp/metrics/metrics.go beside llm_d_router_metrics.go).
std::span<const metric_alias> llm_d_metric_aliases();

/// Appends to `families` a copy of each family that has an alias, under the new name (and label),
/// unless a family of that name is there already (one registered under the new name itself).
void add_metric_aliases(std::vector<prometheus::MetricFamily>& families);

}  // namespace inferstack::runtime
