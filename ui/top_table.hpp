// `inferstack top`: the console's snapshot as terminal tables (pods, InferenceSets, the scaler's
// last decisions, the pickers' last picks), like `kubectl top`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace inferstack::ui {

/// The tables, one line each row, columns aligned.
std::string top_table(const nlohmann::json& snapshot);

}  // namespace inferstack::ui
