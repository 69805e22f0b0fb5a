// llm-d-inference-sim's --mm-encoder-only on a pod's own API: the answer to a request with
// images (audio, video) carries ec_transfer_params -- for each item's multimodal hash, where a
// decoder would fetch its encoder output (placeholder peer, size and NIXL metadata, as the
// simulator's). The hashes of a chat request are the simulator's stub ones,
// sim_<img|audio|video>_<index>_<FNV-1a hex of the URL or data>; /inference/v1/generate brings
// its own (features.mm_hashes). Only encoder-only pods run this.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace inferstack::gateway {

/// The multimodal hashes of a chat completion request's content parts, in order; none when the
/// body has no image_url, input_audio or video_url part.
std::vector<std::string> chat_mm_hashes(std::string_view request_body);

/// The hashes a generate request's features.mm_hashes lists (every modality), in order.
std::vector<std::string> generate_mm_hashes(std::string_view request_body);

/// A whole response body with "ec_transfer_params": {hash: {...}} added last; unchanged when
/// `hashes` is empty (the simulator then leaves the field out).
std::string with_ec_transfer_params(std::string_view body, const std::vector<std::string>& hashes);

}  // namespace inferstack::gateway
