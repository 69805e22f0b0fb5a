// The two generation endpoints the codec speaks. Kept apart from request.hpp so the response
// side does not pull in nlohmann.
#pragma once

#include <string_view>

namespace inferstack::openai {

enum class endpoint { chat_completions, completions };

/// "chat_completions" / "completions".
std::string_view to_string(endpoint e);

}  // namespace inferstack::openai
