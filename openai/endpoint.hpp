// The generation endpoints the codec speaks. Kept apart from request.hpp so the response
// side does not pull in nlohmann.
#pragma once

#include <string_view>

namespace inferstack::openai {

/// responses: OpenAI's Responses API (POST /v1/responses), served as a chat request.
enum class endpoint { chat_completions, completions, responses };

/// "chat_completions" / "completions" / "responses".
std::string_view to_string(endpoint e);

}  // namespace inferstack::openai
