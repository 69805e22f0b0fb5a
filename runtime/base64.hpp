// Base64 (standard alphabet, padded), as Go's base64.StdEncoding: the picker's encoded session
// header and the base64 form of embeddings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace inferstack::runtime {

std::string base64_encode(std::string_view in);

/// nullopt when `in` is not padded standard base64.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace inferstack::runtime
